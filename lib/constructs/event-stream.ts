import { Duration, RemovalPolicy, Stack, Token, Validations } from 'aws-cdk-lib';
import * as kinesis from 'aws-cdk-lib/aws-kinesis';
import * as kms from 'aws-cdk-lib/aws-kms';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import { Construct } from 'constructs';
import { DEFAULT_PREFIX, STREAM, resourceNames } from '../resources.ts';

/**
 * How the stream is encrypted at rest. Both are KMS; they differ in who owns the key.
 *
 * - `aws-managed` (the default): the AWS-managed key `alias/aws/kinesis`. No key to pay for or to
 *   keep a policy on, no `kms:*` grants for producers and consumers, and no KMS request charges
 *   that grow with the number of producers and consumers; access to the data is governed by the
 *   `kinesis:*` IAM actions alone. This is what cdk-nag's AwsSolutions-KDS3 recommends unless a
 *   compliance regime requires a customer-managed key.
 * - `customer-managed`: your key (or one created here, rotated yearly). Use it when you must
 *   control the key policy, audit key use per principal, or read the stream from another account.
 */
export type EventStreamEncryption = 'aws-managed' | 'customer-managed';

export interface EventStreamProps {
  /**
   * Name prefix shared with the embedded stack (see `resourceNames` in lib/resources.ts).
   * @default DEFAULT_PREFIX ('streamfold')
   */
  readonly prefix?: string;
  /**
   * Capacity mode. On-demand scales with traffic without shard management.
   * @default kinesis.StreamMode.ON_DEMAND
   */
  readonly streamMode?: kinesis.StreamMode;
  /**
   * Number of shards. Only valid with `streamMode: PROVISIONED`.
   * @default 1 when PROVISIONED; not applicable when ON_DEMAND
   */
  readonly shardCount?: number;
  /**
   * How long records stay readable. 24 h to 8760 h (365 days), in whole hours. Longer retention
   * gives consumers more time to recover from an outage before records are trimmed, at extra cost.
   * @default Duration.hours(24)
   */
  readonly retention?: Duration;
  /**
   * Encryption at rest. See {@link EventStreamEncryption} for the trade-off.
   * @default 'aws-managed'
   */
  readonly encryption?: EventStreamEncryption;
  /**
   * The key to use with `encryption: 'customer-managed'`.
   * @default - a new key with automatic rotation, when `encryption` is 'customer-managed'
   */
  readonly encryptionKey?: kms.IKey;
  /**
   * What happens to the stream when it leaves the stack. Records not yet consumed are lost when
   * the stream is deleted.
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
}

const MIN_RETENTION_HOURS = 24;
const MAX_RETENTION_HOURS = 8760;

/** The Kinesis data stream that carries every event. */
export class EventStream extends Construct {
  public readonly stream: kinesis.Stream;
  /** The customer-managed key, when `encryption` is 'customer-managed'. */
  public readonly encryptionKey?: kms.IKey;
  public readonly retention: Duration;

  constructor(scope: Construct, id: string, props: EventStreamProps = {}) {
    super(scope, id);
    const mode = props.streamMode ?? kinesis.StreamMode.ON_DEMAND;
    const encryption = props.encryption ?? 'aws-managed';
    this.retention = props.retention ?? Duration.hours(MIN_RETENTION_HOURS);
    validateProps(props, mode, encryption, this.retention);

    const names = resourceNames(
      props.prefix ?? DEFAULT_PREFIX,
      Stack.of(this).account,
      Stack.of(this).region,
    );

    if (encryption === 'customer-managed') {
      this.encryptionKey =
        props.encryptionKey ??
        new kms.Key(this, 'Key', {
          description: `Encrypts the ${names.stream} Kinesis stream`,
          enableKeyRotation: true,
          removalPolicy: props.removalPolicy ?? RemovalPolicy.RETAIN,
        });
    }

    this.stream = new kinesis.Stream(this, 'Stream', {
      streamName: names.stream,
      streamMode: mode,
      shardCount: mode === kinesis.StreamMode.PROVISIONED ? (props.shardCount ?? 1) : undefined,
      retentionPeriod: this.retention,
      ...(this.encryptionKey
        ? { encryption: kinesis.StreamEncryption.KMS, encryptionKey: this.encryptionKey }
        : { encryption: kinesis.StreamEncryption.MANAGED }),
      removalPolicy: props.removalPolicy ?? RemovalPolicy.RETAIN,
    });
    if (this.encryptionKey) {
      Validations.of(this.stream).acknowledge({
        id: 'AwsSolutions-KDS3',
        reason:
          "A customer-managed key was asked for explicitly (encryption: 'customer-managed'), for " +
          'control of the key policy; its KMS request cost is accepted. The default is alias/aws/kinesis.',
      });
    }
  }

  /**
   * Lets `fn` put records (and use the key, when customer-managed) and tells it the stream name
   * through `STREAM.envVar`, in one step so the two never drift apart.
   */
  public bindProducer(fn: lambda.Function): void {
    this.stream.grantWrite(fn);
    fn.addEnvironment(STREAM.envVar, this.stream.streamName);
  }
}

function validateProps(
  props: EventStreamProps,
  mode: kinesis.StreamMode,
  encryption: EventStreamEncryption,
  retention: Duration,
): void {
  if (props.shardCount !== undefined) {
    if (mode !== kinesis.StreamMode.PROVISIONED) {
      throw new Error(
        `EventStream: shardCount (${props.shardCount}) can only be set with streamMode PROVISIONED; ` +
          'an ON_DEMAND stream manages its own shards',
      );
    }
    if (!Token.isUnresolved(props.shardCount) && (!Number.isInteger(props.shardCount) || props.shardCount < 1)) {
      throw new Error(`EventStream: shardCount must be a whole number >= 1, got ${props.shardCount}`);
    }
  }
  if (!retention.isUnresolved()) {
    const hours = retention.toHours({ integral: false });
    if (!Number.isInteger(hours) || hours < MIN_RETENTION_HOURS || hours > MAX_RETENTION_HOURS) {
      throw new Error(
        `EventStream: retention must be whole hours between ${MIN_RETENTION_HOURS} and ` +
          `${MAX_RETENTION_HOURS}, got ${hours} h`,
      );
    }
  }
  if (props.encryptionKey && encryption !== 'customer-managed') {
    throw new Error(
      "EventStream: encryptionKey requires encryption 'customer-managed'; " +
        'the AWS-managed key alias/aws/kinesis cannot be replaced',
    );
  }
}
