/** p2-controllers' option values: milliseconds and farm lists, refused with the option's name. */
import { parseWholeNumber } from '@p2/cli-kit';
import { CONTROLLER_FARMS, type ControllerFarmName } from '@p2/controller-farms';
import { ControllersError, ControllersErrorCode } from './errors.js';

/**
 * Parses a positive integer (`--resync-ms` in milliseconds, `--ds-max-in-flight` in nodes…).
 * @throws ControllersError P2_CONTROLLERS_INVALID_ARGUMENT
 */
export function parseMs(
  name: string,
  value: string | undefined,
  fallback: number,
  unit = 'milliseconds',
): number {
  if (value === undefined) return fallback;
  const n = parseWholeNumber(value, 1);
  if (n === undefined)
    throw new ControllersError(
      ControllersErrorCode.INVALID_ARGUMENT,
      `${name} must be a positive whole number of ${unit}, got ${JSON.stringify(value)}`,
      { hint: `for example ${name} ${fallback}` },
    );
  return n;
}

/** Parses `--farms rc,roll,ds`. @throws ControllersError P2_CONTROLLERS_INVALID_ARGUMENT */
export function parseFarms(value: string | undefined): ControllerFarmName[] {
  if (value === undefined) return [...CONTROLLER_FARMS];
  const names = value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  const bad = names.filter((n) => !(CONTROLLER_FARMS as readonly string[]).includes(n));
  if (bad.length > 0 || names.length === 0)
    throw new ControllersError(
      ControllersErrorCode.INVALID_ARGUMENT,
      `--farms expects a comma-separated list of ${CONTROLLER_FARMS.join(', ')}; got ${JSON.stringify(value)}`,
      { hint: '--farms rc,roll,ds' },
    );
  return names as ControllerFarmName[];
}
