import { CsrfField, Layout, type Section, type Viewer } from './layout.js';

/** One field of the edit that met a newer version: its label, its form name, and the edit's value. */
export interface EditedField {
  readonly label: string;
  readonly name: string;
  readonly mine: string;
}

/**
 * Someone changed the resource between reading and saving: the edit and the current version
 * side by side, and the person chooses. Keeping the current one discards the edit; keeping mine
 * posts it again over the current version (a fresh version check: a third change in between
 * comes back here). The user and group pages both answer a 409 with it.
 */
export function VersionConflictPage(props: {
  viewer: Viewer;
  section: Section;
  /** What changed, in words. */
  noun: 'user' | 'group';
  /** The current version's name, for the title. */
  name: string;
  /** The resource's page, where the edit is posted. */
  href: string;
  version: number;
  edited: readonly EditedField[];
  /** The current version's fields, as shown. */
  current: readonly { readonly label: string; readonly value: string }[];
}): JSX.Element {
  const { viewer } = props;
  return (
    <Layout title={`Conflict: ${props.name}`} section={props.section} viewer={viewer}>
      <h1>Someone else changed this {props.noun}</h1>
      <p role="alert">
        The {props.noun} changed after you opened it (it is now at version {props.version}). Choose which version to keep.
      </p>
      <div class="columns">
        <section class="card" aria-labelledby="mine-heading">
          <h2 id="mine-heading">Your edit</h2>
          <dl>
            {props.edited.map((field) => (
              <>
                <dt safe>{field.label}</dt>
                <dd safe>{field.mine}</dd>
              </>
            ))}
          </dl>
          <form method="post" action={props.href}>
            <CsrfField token={viewer.csrfToken} />
            <input type="hidden" name="version" value={String(props.version)} />
            {props.edited.map((field) => (
              <input type="hidden" name={field.name} value={field.mine} />
            ))}
            <button type="submit">Keep my edit</button>
          </form>
        </section>
        <section class="card" aria-labelledby="theirs-heading">
          <h2 id="theirs-heading">Current version</h2>
          <dl>
            {props.current.map((field) => (
              <>
                <dt safe>{field.label}</dt>
                <dd safe>{field.value}</dd>
              </>
            ))}
          </dl>
          <a class="button secondary" href={props.href}>
            Keep the current version
          </a>
        </section>
      </div>
    </Layout>
  );
}
