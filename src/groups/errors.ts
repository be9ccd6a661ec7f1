import { AppError } from '../kit/errors.js';
import type { UserId } from '../users/model.js';

/** No group has this id (or it was deleted). */
export class GroupNotFoundError extends AppError {
  readonly code = 'group-not-found';
}

/** Another group already has this display name, compared under foldKey(). */
export class GroupNameTakenError extends AppError {
  readonly code = 'group-name-taken';
}

/** Another group already has this external id. */
export class GroupExternalIdTakenError extends AppError {
  readonly code = 'group-external-id-taken';
}

/** The caller's `If-Match` version is not the group's current one. Same code as the users' (one meaning, one problem type). */
export class GroupVersionMismatchError extends AppError {
  readonly code = 'version-mismatch';
}

/**
 * A batch named users that do not exist: nothing of the batch was applied. `userIds` lists
 * them all (at most one request's worth), so a client can drop them and retry at once.
 */
export class MembersNotFoundError extends AppError {
  readonly code = 'member-not-found';
  constructor(
    readonly userIds: readonly UserId[],
    options?: { cause?: unknown },
  ) {
    super(
      `${userIds.length === 1 ? 'No user has id' : 'No users have ids'} ${userIds.slice(0, 20).join(', ')}${userIds.length > 20 ? ', …' : ''}.`,
      options,
    );
  }
}

/** The user to remove is not a member of the group. */
export class NotAMemberError extends AppError {
  readonly code = 'membership-not-found';
}
