import type * as iam from 'aws-cdk-lib/aws-iam';
import type * as apigwv2 from 'aws-cdk-lib/aws-apigatewayv2';
import type { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import type * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { FUNCTIONS, type FunctionDef } from '../functions.ts';
import { SETTINGS, settingsEnvironment } from '../settings.ts';
import type { StreamfoldApi } from './api.ts';
import type { EventStream } from './event-stream.ts';
import { StreamfoldFunction, type PowertoolsLogLevel } from './function.ts';
import type { Monitoring } from './monitoring.ts';
import type { Storage } from './storage.ts';

export interface IntakeProps {
  /** Where accepted events go (PutRecords). */
  readonly stream: EventStream;
  /** Tenants (API keys, read) and idempotency records (read and write). */
  readonly storage: Storage;
  /** The API whose intake routes (lib/routes.ts) this function serves. */
  readonly api: StreamfoldApi;
  /**
   * Adds the function's error and throttle alarms and widgets.
   * @default - not monitored
   */
  readonly monitoring?: Monitoring;
  /**
   * Name prefix (function `<prefix>-intake`).
   * @default DEFAULT_PREFIX ('streamfold')
   */
  readonly prefix?: string;
  /**
   * Powertools log level.
   * @default POWERTOOLS.logLevel.default ('INFO')
   */
  readonly logLevel?: PowertoolsLogLevel;
  /**
   * The function definition (entry, memory, timeout). Memory also buys CPU for gzip and JSON.
   * @default FUNCTIONS.intake
   */
  readonly definition?: FunctionDef;
  /**
   * The rollups' 1 h retention (ROLLUP_TTL_1H_DAYS), whole days in 1..3650: events older than
   * that are refused with a reason, since the rollups could not hold them. Give it the rollup's
   * own `ttl1hDays` (the stack does).
   * @default - the function's default, SETTINGS.intake.rollupTtl1hDays.default (400 days)
   */
  readonly rollupTtl1hDays?: number;
}

/**
 * The intake flow: `POST /v1/events` on the API → intake function → PutRecords on the stream.
 *
 * The function may put records on the stream, read the tenants table (API key hashes) and read
 * and write the idempotency table; nothing else (no archive, no rollups, no tenant writes).
 */
export class Intake extends Construct {
  public readonly function: NodejsFunction;
  public readonly role: iam.Role;
  public readonly logGroup: logs.LogGroup;
  public readonly routes: apigwv2.HttpRoute[];

  constructor(scope: Construct, id: string, props: IntakeProps) {
    super(scope, id);
    const definition = props.definition ?? FUNCTIONS.intake;
    const fn = new StreamfoldFunction(this, 'Handler', {
      definition,
      prefix: props.prefix,
      logLevel: props.logLevel,
      environment: settingsEnvironment('Intake', SETTINGS.intake, { rollupTtl1hDays: props.rollupTtl1hDays }),
    });
    this.function = fn.function;
    this.role = fn.role;
    this.logGroup = fn.logGroup;

    props.stream.bindProducer(this.function);
    props.storage.bindTenants(this.function, 'lookup');
    props.storage.bindIdempotency(this.function);
    this.routes = props.api.addRoutes('intake', this.function);

    props.monitoring?.monitorFunction('Intake', this.function);
  }
}
