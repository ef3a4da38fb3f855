import { P2Error } from '@p2/errors';

/** Stable codes of @p2/pods errors. */
export const PodErrorCode = {
  INVALID_POD_ID: 'P2_PODS_INVALID_POD_ID',
  INVALID_LAUNCHABLE_ID: 'P2_PODS_INVALID_LAUNCHABLE_ID',
  /** The manifest's `run_as` is refused by the host's run-as policy. */
  RUN_AS_REFUSED: 'P2_PODS_RUN_AS_REFUSED',
  /** A pod home or file root relies on is not root's alone (owner, mode, link). */
  UNTRUSTED_PATH: 'P2_PODS_UNTRUSTED_PATH',
  UNSUPPORTED_LAUNCHABLE: 'P2_PODS_UNSUPPORTED_LAUNCHABLE',
  /** A container launchable's bundle asks for more than a pod may have; `details.field` names the field. */
  CONTAINER_REFUSED: 'P2_PODS_CONTAINER_REFUSED',
  INSTALL_FAILED: 'P2_PODS_INSTALL_FAILED',
  LAUNCH_FAILED: 'P2_PODS_LAUNCH_FAILED',
  START_FAILED: 'P2_PODS_START_FAILED',
  HALT_FAILED: 'P2_PODS_HALT_FAILED',
  UNINSTALL_FAILED: 'P2_PODS_UNINSTALL_FAILED',
  HOOK_FAILED: 'P2_PODS_HOOK_FAILED',
  SERVICE_NAME_CLASH: 'P2_PODS_SERVICE_NAME_CLASH',
  NOT_INSTALLED: 'P2_PODS_NOT_INSTALLED',
  /** A launchable was asked for that the pod does not have (or the pod has several and none was named). */
  NO_SUCH_LAUNCHABLE: 'P2_PODS_NO_SUCH_LAUNCHABLE',
  /** The host's require file is missing: nothing of any pod may run. */
  REQUIRE_FILE_MISSING: 'P2_PODS_REQUIRE_FILE_MISSING',
  /** A command to run in a pod that cannot be run (none given, or not a command name). */
  EXEC_INVALID: 'P2_PODS_EXEC_INVALID',
} as const;
export type PodErrorCode = (typeof PodErrorCode)[keyof typeof PodErrorCode];

/** Errors of a pod's life on a host; package errors (hoist, runit, …) are chained as `cause`. */
export class PodError extends P2Error<PodErrorCode> {}
