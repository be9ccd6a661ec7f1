/** What the reporter reads from the running import at each tick. */
export interface ProgressCounts {
  readonly rows: number;
  readonly errors: number;
  readonly bytes: number;
}

/** One rendered state of the import. */
export interface ProgressView extends ProgressCounts {
  readonly rowsPerSecond: number;
  readonly elapsedSeconds: number;
  readonly totalBytes?: number;
  /** 0–1, when the size is known. */
  readonly fraction?: number;
  /** When the size is known and something was read. */
  readonly etaSeconds?: number;
}

/** Weight of the newest interval in the displayed rate: steady, yet quick to follow a change. */
const RATE_SMOOTHING = 0.3;

/** The displayed rate: an exponential average of the per-interval rates. */
export function smoothRate(previousRate: number | undefined, rows: number, seconds: number): number {
  if (seconds <= 0) return previousRate ?? 0;
  const current = rows / seconds;
  return previousRate === undefined ? current : previousRate + RATE_SMOOTHING * (current - previousRate);
}

/**
 * Progress against the file size. The ETA extrapolates the average byte rate since the start,
 * which is steadier than the row rate when rows differ in size.
 */
export function estimate(
  bytes: number,
  totalBytes: number | undefined,
  elapsedSeconds: number,
): Pick<ProgressView, 'fraction' | 'etaSeconds'> {
  if (totalBytes === undefined || totalBytes <= 0) return {};
  const fraction = Math.min(1, bytes / totalBytes);
  if (bytes === 0 || elapsedSeconds <= 0) return { fraction };
  return { fraction, etaSeconds: (elapsedSeconds * (totalBytes - Math.min(bytes, totalBytes))) / bytes };
}

const integer = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });

/** `1h 02m`, `3m 07s`, `42s`. */
export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s >= 3600) return `${Math.floor(s / 3600)}h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
  if (s >= 60) return `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, '0')}s`;
  return `${s}s`;
}

/** The terminal line: `1,234,567 rows · 45,678 rows/s · 12 errors · 43% · ETA 1m 12s`. */
export function formatProgressLine(view: ProgressView): string {
  const parts = [
    `${integer.format(view.rows)} rows`,
    `${integer.format(view.rowsPerSecond)} rows/s`,
    `${integer.format(view.errors)} ${view.errors === 1 ? 'error' : 'errors'}`,
  ];
  if (view.fraction !== undefined) parts.push(`${Math.floor(view.fraction * 100)}%`);
  if (view.etaSeconds !== undefined) parts.push(`ETA ${formatDuration(view.etaSeconds)}`);
  return parts.join(' · ');
}

/** The line for logs and pipes: one JSON object, snake_case like the API. */
export function formatProgressJson(view: ProgressView): string {
  return `${JSON.stringify({
    event: 'import.progress',
    rows: view.rows,
    rows_per_second: Math.round(view.rowsPerSecond),
    errors: view.errors,
    bytes: view.bytes,
    total_bytes: view.totalBytes ?? null,
    percent: view.fraction === undefined ? null : Math.floor(view.fraction * 1000) / 10,
    eta_seconds: view.etaSeconds === undefined ? null : Math.round(view.etaSeconds),
    elapsed_seconds: Math.round(view.elapsedSeconds),
  })}\n`;
}

/** Where progress goes: stderr, typically. */
export interface ProgressOutput {
  write(text: string): unknown;
  readonly isTTY?: boolean;
}

export interface ProgressOptions {
  readonly read: () => ProgressCounts;
  readonly out: ProgressOutput;
  readonly totalBytes?: number;
  /** Default: 250 ms on a terminal, 5 s otherwise. */
  readonly intervalMs?: number;
  /** Milliseconds; injectable for tests. */
  readonly now?: () => number;
}

export interface ProgressReporter {
  /** Renders the current state now. */
  tick(): void;
  /** Renders the final state (ending the terminal line) and stops; idempotent. */
  stop(): void;
}

/**
 * A progress reporter on a timer: on a TTY it redraws one line in place, otherwise it prints
 * a JSON line per interval. The timer never keeps the process alive.
 */
export function startProgress(options: ProgressOptions): ProgressReporter {
  const now = options.now ?? (() => performance.now());
  const tty = options.out.isTTY === true;
  const startedAt = now();
  let last = { at: startedAt, rows: 0 };
  let rate: number | undefined;
  let stopped = false;
  const render = (): string => {
    const counts = options.read();
    const at = now();
    rate = smoothRate(rate, counts.rows - last.rows, (at - last.at) / 1000);
    last = { at, rows: counts.rows };
    const elapsedSeconds = (at - startedAt) / 1000;
    const view: ProgressView = {
      ...counts,
      rowsPerSecond: rate,
      elapsedSeconds,
      ...(options.totalBytes === undefined ? {} : { totalBytes: options.totalBytes }),
      ...estimate(counts.bytes, options.totalBytes, elapsedSeconds),
    };
    return tty ? `\r${formatProgressLine(view)}\u001b[K` : formatProgressJson(view);
  };
  const tick = () => {
    if (!stopped) options.out.write(render());
  };
  const timer = setInterval(tick, options.intervalMs ?? (tty ? 250 : 5000));
  timer.unref();
  return {
    tick,
    stop() {
      if (stopped) return;
      clearInterval(timer);
      options.out.write(render() + (tty ? '\n' : ''));
      stopped = true;
    },
  };
}
