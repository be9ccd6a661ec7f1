// µs per inSpan() around an async step, tracing off / on but unsampled / sampled, each mode in
// its own process (a provider is global): `npx tsc -p tsconfig.json && node dist/bench/trace.js`.
// "always a span" is inSpan as it was before spans were limited to recorded traces.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { SpanStatusCode, trace, type Tracer } from '@opentelemetry/api';

const MODES = ['no SDK', 'SDK, unsampled', 'SDK, sampled'] as const;
type Mode = (typeof MODES)[number];
const N = 200_000;

async function measure(mode: Mode): Promise<void> {
  if (mode !== 'no SDK') {
    const { startTracingSdk } = await import('../src/observability/tracing-sdk.js');
    const name = mode === 'SDK, sampled' ? 'always_on' : 'always_off';
    startTracingSdk({ enabled: true, exportEndpoint: undefined, serviceName: 'bench', sampler: { name, ratio: 1 } }, '0', []);
  }
  // Imported after the provider, as the server imports its modules after startTracing().
  const { inSpan } = await import('../src/kit/trace.js');
  const tracer = trace.getTracer('bench');
  const step = () => Promise.resolve(1);
  const variants: [string, (work: () => Promise<number>) => Promise<number>][] = [
    ['inSpan', (work) => inSpan('users.get', work)],
    ['always a span', (work) => alwaysASpan(tracer, 'users.get', work)],
  ];
  // The request's SERVER span, as http/tracing.ts makes it active.
  await tracer.startActiveSpan('GET /v1/users/:id', async (request) => {
    for (const [label, run] of variants) {
      for (let i = 0; i < 20_000; i++) await run(step);
      const rounds: number[] = [];
      for (let round = 0; round < 5; round++) {
        const start = process.hrtime.bigint();
        for (let i = 0; i < N; i++) await run(step);
        rounds.push(Number(process.hrtime.bigint() - start) / N / 1000);
      }
      console.log(`${mode.padEnd(16)} ${label.padEnd(14)} ${Math.min(...rounds).toFixed(3)} µs/call (best of 5 × ${N})`);
    }
    request.end();
  });
}

function alwaysASpan<T>(tracer: Tracer, name: string, work: () => Promise<T>): Promise<T> {
  return tracer.startActiveSpan(name, async (span) => {
    try {
      return await work();
    } catch (error) {
      span.setStatus({ code: SpanStatusCode.ERROR });
      throw error;
    } finally {
      span.end();
    }
  });
}

const mode = process.argv[2] as Mode | undefined;
if (mode === undefined) {
  for (const each of MODES) spawnSync(process.execPath, [fileURLToPath(import.meta.url), each], { stdio: 'inherit' });
} else {
  await measure(mode);
}
