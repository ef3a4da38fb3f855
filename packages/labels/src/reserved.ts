/** Labels with a meaning to P2's controllers (spec 03 §0.2). */
export const ReservedLabel = {
  /** The manifest id: on RC labels (automatic), on RC-scheduled pods, on pod clusters. */
  POD_ID: 'pod_id',
  /** The owning replication controller, on pods it scheduled. */
  REPLICATION_CONTROLLER_ID: 'replication_controller_id',
  /** The owning daemon set, on pods it scheduled. */
  DAEMON_SET_ID: 'daemon_set_id',
  /** Injected into RC `pod_labels` at creation; on pod clusters. */
  AVAILABILITY_ZONE: 'availability_zone',
  /** Injected into RC `pod_labels` at creation; on pod clusters. */
  CLUSTER_NAME: 'cluster_name',
} as const;

/** One of the {@link ReservedLabel} keys. */
export type ReservedLabel = (typeof ReservedLabel)[keyof typeof ReservedLabel];
