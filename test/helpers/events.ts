import { v7 as uuidv7 } from 'uuid';
import type { NewEvent } from '../../src/events/model.js';
import { userCreated, userDeleted, userUpdated } from '../../src/users/events.js';
import type { User } from '../../src/users/model.js';

/** The events the users service would write, for store-level tests that call the port directly. */
export const created = (user: User): NewEvent => userCreated(uuidv7(), user, { actor: 'test' });
export const describeUpdate = (before: User, after: User): NewEvent => userUpdated(uuidv7(), before, after, { actor: 'test' });
export const describeDelete = (user: User): NewEvent => userDeleted(uuidv7(), user, { actor: 'test' }, new Date());
