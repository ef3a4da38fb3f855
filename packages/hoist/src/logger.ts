import { pino } from 'pino';

/** @internal The logger used when a caller passes none: libraries stay quiet by default. */
export const silentLogger = pino({ level: 'silent' });
