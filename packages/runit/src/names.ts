import { RunitError, RunitErrorCodes } from './errors.js';

const PART = /^[A-Za-z0-9_][A-Za-z0-9_.@+-]*$/;

/** Throws unless `value` can be one `/`-free component of a service name. @internal */
function assertNamePart(value: string, what: string): void {
  if (value.length > 0 && value.length <= 200 && PART.test(value) && !value.includes('..')) return;
  throw new RunitError(
    RunitErrorCodes.INVALID_NAME,
    `${what} ${JSON.stringify(value)} cannot be part of a runit service name`,
    {
      hint: 'use letters, digits, "_", "-", "." (not leading, no ".."), "@" or "+"; service names become directory names',
      details: { [what]: value },
    },
  );
}

/** Throws unless `name` is a usable service directory name. @internal */
export function assertServiceName(name: string): void {
  assertNamePart(name, 'service name');
  if (name.length > 255 || name.startsWith('p2-slot-'))
    throw new RunitError(
      RunitErrorCodes.INVALID_NAME,
      `service name ${JSON.stringify(name)} is reserved or too long`,
      {
        details: { name },
      },
    );
}

/** Identifies one entry point of a launchable. */
export interface ServiceNameParts {
  /** The pod's unique name: the pod id (legacy pods) or `<pod-id>-<uuid>`. */
  podUniqueName: string;
  launchableId: string;
  /** Entry point relative to the launchable's install dir, e.g. `bin/launch` or `bin/launch/worker`. */
  entryPoint: string;
  /** uuid pods name services after the whole relative path, legacy pods after its basename. @default false */
  uuidPod?: boolean;
}

/**
 * P2's runit service name: `<pod>__<launchable>__<entry>`. Legacy pods use the entry point's
 * basename; uuid pods its relative path with `/` replaced by `__` (spec 02 §2.12).
 *
 * @throws {RunitError} `P2_RUNIT_INVALID_NAME`
 * @example serviceName({ podUniqueName: 'hello', launchableId: 'app', entryPoint: 'bin/launch' }) // 'hello__app__launch'
 * @example serviceName({ podUniqueName: 'hello-<uuid>', launchableId: 'app', entryPoint: 'bin/launch', uuidPod: true }) // 'hello-<uuid>__app__bin__launch'
 */
export function serviceName(parts: ServiceNameParts): string {
  assertNamePart(parts.podUniqueName, 'pod unique name');
  assertNamePart(parts.launchableId, 'launchable id');
  const segments = parts.entryPoint.split('/').filter((s) => s !== '' && s !== '.');
  if (segments.length === 0 || segments.includes('..') || parts.entryPoint.startsWith('/'))
    throw new RunitError(
      RunitErrorCodes.INVALID_NAME,
      `entry point ${JSON.stringify(parts.entryPoint)} must be a path inside the launchable`,
      {
        details: { entryPoint: parts.entryPoint },
      },
    );
  const entry = parts.uuidPod ? segments.join('__') : (segments[segments.length - 1] as string);
  for (const segment of segments) assertNamePart(segment, 'entry point segment');
  const name = `${parts.podUniqueName}__${parts.launchableId}__${entry}`;
  assertServiceName(name);
  return name;
}
