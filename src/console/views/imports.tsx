import { isFinished, type ImportJob } from '../../imports/jobs/job.js';
import type { RowError } from '../../imports/read/rows.js';
import { CsrfField, Layout, Notice, type Viewer } from './layout.js';

/** A job's live counters while this instance runs it (from the runner). */
export interface LiveProgress {
  readonly bytes: number;
  readonly read: number;
  readonly failed: number;
}

export interface ImportsListView {
  readonly jobs: readonly ImportJob[];
  /** The id to continue from when there are older jobs. */
  readonly olderBefore?: string | undefined;
  /** Whether this is a later page (a link back to the newest). */
  readonly paged: boolean;
  readonly error?: string | undefined;
  /** The upload size limit, shown beside the file input. */
  readonly maxBytes: number;
}

/** The imports screen: the upload form, then the jobs, newest first. */
export function ImportsPage(props: { viewer: Viewer; view: ImportsListView }): JSX.Element {
  const { viewer, view } = props;
  return (
    <Layout title="Imports" section="imports" viewer={viewer}>
      <h1>Imports</h1>
      <Notice kind="error" message={view.error} />
      <h2>Upload a file</h2>
      {/* The CSRF token and the options come before the file: the server reads the fields as they
          stream in and checks the token before it reads a byte of the file. */}
      <form method="post" action="/console/imports" enctype="multipart/form-data">
        <CsrfField token={viewer.csrfToken} />
        <label for="import-format">Format</label>
        <select id="import-format" name="format">
          <option value="auto" selected>
            From the file name (.ndjson or .jsonl: NDJSON; otherwise CSV)
          </option>
          <option value="csv">CSV with a header row (email, name, attributes…)</option>
          <option value="ndjson">NDJSON, one user per line</option>
        </select>
        <label for="import-mode">When a row's email already exists</label>
        <select id="import-mode" name="mode">
          <option value="create" selected>
            Fail that row (create only)
          </option>
          <option value="upsert">Update that user (upsert)</option>
        </select>
        <label for="import-events">Events</label>
        <select id="import-events" name="events">
          <option value="per-user" selected>
            One event per user written
          </option>
          <option value="summary">One summary event for the whole import</option>
        </select>
        <fieldset>
          <legend>Options</legend>
          <label>
            <input type="checkbox" name="dry_run" value="1" />
            Dry run: check every row, write nothing
          </label>
          <label>
            <input type="checkbox" name="ignore_unknown" value="1" />
            Ignore unknown columns instead of refusing the file
          </label>
        </fieldset>
        <label for="import-file">File</label>
        <input
          id="import-file"
          name="file"
          type="file"
          required
          accept=".csv,.ndjson,.jsonl,text/csv,application/x-ndjson"
          aria-describedby="import-file-hint"
        />
        <p id="import-file-hint" class="muted" safe>
          {`At most ${formatBytes(view.maxBytes)}. The file is read in the background; its page shows the progress.`}
        </p>
        <button type="submit">Upload and import</button>
      </form>
      <h2>Jobs</h2>
      {view.jobs.length === 0 ? (
        <p>No imports yet.</p>
      ) : (
        <div class="table-wrap">
          <table>
            <caption class="visually-hidden">Import jobs, newest first</caption>
            <thead>
              <tr>
                <th scope="col">Started</th>
                <th scope="col">Status</th>
                <th scope="col">Read</th>
                <th scope="col">Created</th>
                <th scope="col">Updated</th>
                <th scope="col">Failed</th>
              </tr>
            </thead>
            <tbody>
              {view.jobs.map((job) => (
                <tr>
                  <td>
                    <a href={`/console/imports/${job.id}`} aria-label={`Import of ${job.createdAt.toISOString()}`} safe>
                      {job.createdAt.toISOString()}
                    </a>
                  </td>
                  <td>{job.status}</td>
                  <td>{job.counts.read}</td>
                  <td>{job.counts.created}</td>
                  <td>{job.counts.updated}</td>
                  <td>{job.counts.failed}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <nav class="pager" aria-label="Pages">
        {view.paged ? <a href="/console/imports">Newest jobs</a> : ''}
        {view.olderBefore === undefined ? '' : <a href={`/console/imports?before=${encodeURIComponent(view.olderBefore)}`}>Older jobs</a>}
      </nav>
    </Layout>
  );
}

export interface JobView {
  readonly job: ImportJob;
  readonly live?: LiveProgress | undefined;
  /** A page of row errors, in line order. */
  readonly errors: readonly RowError[];
  /** The line the shown errors follow (0: the first page). */
  readonly errorsAfter: number;
  /** The line to continue from when more errors follow. */
  readonly nextErrorsAfter?: number | undefined;
  readonly notice?: string | undefined;
}

/** One job: its settings, live status (polled while unfinished), its row errors a page at a time. */
export function JobPage(props: { viewer: Viewer; view: JobView }): JSX.Element {
  const { viewer, view } = props;
  const { job } = view;
  return (
    <Layout title="Import" section="imports" viewer={viewer}>
      <p>
        <a href="/console/imports">All imports</a>
      </p>
      <h1>Import</h1>
      <Notice kind="ok" message={view.notice} />
      <dl>
        <dt>Id</dt>
        <dd>
          <code safe>{job.id}</code>
        </dd>
        <dt>Format</dt>
        <dd>{job.format}</dd>
        <dt>Mode</dt>
        <dd>{job.mode}</dd>
        <dt>Events</dt>
        <dd>{job.events}</dd>
        <dt>Dry run</dt>
        <dd>{job.dryRun ? 'yes' : 'no'}</dd>
        <dt>Size</dt>
        <dd safe>{job.totalBytes === undefined ? 'unknown' : formatBytes(job.totalBytes)}</dd>
        <dt>Started by</dt>
        <dd safe>{job.actor ?? 'unknown'}</dd>
        <dt>Created</dt>
        <dd safe>{job.createdAt.toISOString()}</dd>
      </dl>
      <JobProgress viewer={viewer} job={job} live={view.live} />
      <RowErrors view={view} />
    </Layout>
  );
}

/**
 * The job's status and counts; also what the page polls (htmx, every second) while the job is
 * unfinished. The fragment of a finished job carries no trigger, so the polling stops there.
 */
export function JobProgress(props: { viewer: Viewer; job: ImportJob; live?: LiveProgress | undefined }): JSX.Element {
  const { job, live } = props;
  const running = !isFinished(job.status);
  const read = live?.read ?? job.counts.read;
  const failed = live?.failed ?? job.counts.failed;
  const percent =
    live !== undefined && job.totalBytes !== undefined && job.totalBytes > 0
      ? Math.min(100, Math.floor((live.bytes / job.totalBytes) * 100))
      : undefined;
  return (
    <section
      id="job-progress"
      aria-labelledby="job-progress-heading"
      hx-get={running ? `/console/imports/${job.id}/progress` : undefined}
      hx-trigger={running ? 'every 1s' : undefined}
      hx-swap={running ? 'outerHTML' : undefined}
    >
      <h2 id="job-progress-heading">Progress</h2>
      <p>
        Status: <strong data-status={job.status}>{job.status}</strong>
      </p>
      {job.error === undefined ? '' : <p class="notice error" safe>{`Why: ${job.error}`}</p>}
      {percent === undefined ? (
        ''
      ) : (
        <>
          <label for="job-bytes">File read</label>
          <progress id="job-bytes" max="100" value={percent}>
            {percent}%
          </progress>
        </>
      )}
      <dl>
        <dt>Rows read</dt>
        <dd>{read}</dd>
        <dt>Created</dt>
        <dd>{job.counts.created}</dd>
        <dt>Updated</dt>
        <dd>{job.counts.updated}</dd>
        <dt>Skipped</dt>
        <dd>{job.counts.skipped}</dd>
        <dt>Failed</dt>
        <dd>{failed}</dd>
      </dl>
      {running ? (
        <>
          <p class="muted">
            This part refreshes every second while the import runs. Without JavaScript,{' '}
            <a href={`/console/imports/${job.id}`}>reload the page</a>.
          </p>
          <form
            method="post"
            action={`/console/imports/${job.id}/cancel`}
            data-confirm="Cancel this import? Batches already committed stay."
          >
            <CsrfField token={props.viewer.csrfToken} />
            <button type="submit" class="danger">
              Cancel the import
            </button>
          </form>
        </>
      ) : (
        ''
      )}
    </section>
  );
}

function RowErrors(props: { view: JobView }): JSX.Element {
  const { view } = props;
  const { job } = view;
  return (
    <section aria-labelledby="row-errors-heading">
      <h2 id="row-errors-heading">Row errors</h2>
      {job.counts.failed > job.errorsKept ? (
        <p class="muted" safe>{`${job.counts.failed} rows failed; the first ${job.errorsKept} are kept.`}</p>
      ) : (
        ''
      )}
      {view.errors.length === 0 ? (
        <p>{view.errorsAfter === 0 ? 'No row errors.' : 'No more row errors.'}</p>
      ) : (
        <div class="table-wrap">
          <table>
            <caption class="visually-hidden">Rows that failed, by line of the file</caption>
            <thead>
              <tr>
                <th scope="col">Line</th>
                <th scope="col">Field</th>
                <th scope="col">Reason</th>
              </tr>
            </thead>
            <tbody>
              {view.errors.map((error) => (
                <tr>
                  <td>{error.line}</td>
                  <td safe>{error.field ?? ''}</td>
                  <td safe>{error.reason}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <nav class="pager" aria-label="Row error pages">
        {view.errorsAfter === 0 ? '' : <a href={`/console/imports/${job.id}`}>First row errors</a>}
        {view.nextErrorsAfter === undefined ? (
          ''
        ) : (
          <a href={`/console/imports/${job.id}?errors_after=${view.nextErrorsAfter}`}>More row errors</a>
        )}
      </nav>
    </section>
  );
}

export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} bytes`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  if (bytes < 1024 * 1024 * 1024) return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
  return `${(bytes / 1024 / 1024 / 1024).toFixed(1)} GiB`;
}
