import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const TRACING = new URL('../../src/observability/tracing.js', import.meta.url).href;

// A module loader hook in a fresh process writes down every module it loads: what startTracing()
// imports is then a fact, not a guess from memory figures.
const RECORDER = `data:text/javascript,${encodeURIComponent(`
  import { register } from 'node:module';
  register('data:text/javascript,' + encodeURIComponent(\`
    import { appendFileSync } from 'node:fs';
    export async function load(url, context, next) { appendFileSync(process.env.LOADED_MODULES, url + '\\\\n'); return next(url, context); }
  \`));
`)}`;

async function modulesLoadedBy(exportEndpoint: string | undefined): Promise<string[]> {
  const dir = await mkdtemp(join(tmpdir(), 'roster-sdk-loading-'));
  try {
    const file = join(dir, 'loaded.txt');
    const config = { enabled: true, exportEndpoint, serviceName: 'roster-test', sampler: { name: 'always_on', ratio: 1 } };
    const script = `const { startTracing } = await import(${JSON.stringify(TRACING)});
      const tracing = await startTracing(${JSON.stringify(config)}, '0.0.0-test');
      await tracing.shutdown();`;
    await run(process.execPath, ['--import', RECORDER, '--input-type=module', '-e', script], {
      env: { ...process.env, LOADED_MODULES: file },
    });
    return (await readFile(file, 'utf8')).split('\n').filter((line) => line !== '');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const sdkModules = (loaded: string[]) => loaded.filter((url) => /@opentelemetry\/(sdk-|exporter-|resources)/.test(url));

test('without an exporter the OpenTelemetry SDK is never imported', async () => {
  const loaded = await modulesLoadedBy(undefined);
  assert.ok(
    loaded.some((url) => url.endsWith('/observability/tracing.js')),
    'the recorder saw startTracing’s own module',
  );
  assert.deepEqual(sdkModules(loaded), []);
});

test('with an exporter the SDK and the OTLP exporter are loaded', async () => {
  const loaded = await modulesLoadedBy('http://127.0.0.1:9/v1/traces');
  const sdk = sdkModules(loaded).join('\n');
  assert.match(sdk, /@opentelemetry\/sdk-trace-node/);
  assert.match(sdk, /@opentelemetry\/exporter-trace-otlp-http/);
});
