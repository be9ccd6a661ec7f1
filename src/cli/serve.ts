import type { Config, UnknownVariable } from '../config.js';
import { createServiceLogger, flushLogs } from '../observability/logger.js';
import { packageVersion } from '../version.js';
import { describeUnknown } from './output.js';

/** `roster serve`: the server until a signal ends it (SIGTERM/SIGINT drain; a second one exits at once). */
export async function serve(config: Config, options: { unknownVariables: readonly UnknownVariable[] }): Promise<number> {
  // Tracing starts before the app's modules are loaded, so every tracer they take is the SDK's
  // (it loads the SDK only when an exporter is configured).
  const { startTracing } = await import('../observability/tracing.js');
  const tracing = await startTracing(config.observability.tracing, packageVersion());
  const logger = createServiceLogger(config.observability);
  // In the log, where a server's operator looks, rather than on a terminal nobody may watch.
  for (const variable of options.unknownVariables) {
    logger.warn({ variable: variable.name, did_you_mean: variable.suggestion }, describeUnknown(variable));
  }
  // Loaded here so `--help`, `migrate` and config errors do not pay for the whole HTTP stack.
  const { startServer } = await import('../main.js');
  const server = await startServer(config, logger, { tracing });
  const finish = (reason: string, failed = false) => {
    void server.shutdown.run(reason).then(async (outcome) => {
      // So that the shutdown's last lines leave after the rest, not beside a batch still in flight.
      await flushLogs(logger);
      process.exit(outcome === 'clean' && !failed ? 0 : 1);
    });
  };
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.on(signal, () => {
      if (server.shutdown.started) {
        logger.error({ signal }, 'second signal: exiting now without finishing the drain');
        process.exit(130);
      }
      finish(signal);
    });
  }
  // A rejection nobody handled is a bug: drain what is in flight, then exit non-zero.
  process.on('unhandledRejection', (reason) => {
    logger.fatal({ err: reason }, 'unhandled promise rejection: shutting down');
    finish('unhandledRejection', true);
  });
  // After an uncaught exception the process state is unknown: log it and stop at once.
  process.on('uncaughtException', (error) => {
    logger.fatal({ err: error }, 'uncaught exception: exiting');
    process.exit(1);
  });
  return new Promise<number>(() => undefined); // runs until a signal ends the process
}
