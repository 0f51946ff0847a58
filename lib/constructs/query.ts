import type * as apigwv2 from 'aws-cdk-lib/aws-apigatewayv2';
import type * as iam from 'aws-cdk-lib/aws-iam';
import type { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import type * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { FUNCTIONS, type FunctionDef } from '../functions.ts';
import type { StreamfoldApi } from './api.ts';
import { StreamfoldFunction, type PowertoolsLogLevel } from './function.ts';
import type { Monitoring } from './monitoring.ts';
import type { Storage } from './storage.ts';

export interface QueryProps {
  /** Rollups (read), tenants (key lookup) and the archive (read). */
  readonly storage: Storage;
  /** The API whose query routes (lib/routes.ts) this function serves. */
  readonly api: StreamfoldApi;
  /**
   * Adds the function's error and throttle alarms and widgets.
   * @default - not monitored
   */
  readonly monitoring?: Monitoring;
  /**
   * Name prefix (function `<prefix>-query`).
   * @default DEFAULT_PREFIX ('streamfold')
   */
  readonly prefix?: string;
  /**
   * Powertools log level.
   * @default POWERTOOLS.logLevel.default ('INFO')
   */
  readonly logLevel?: PowertoolsLogLevel;
  /**
   * The function definition (entry, memory, timeout).
   * @default FUNCTIONS.query
   */
  readonly definition?: FunctionDef;
}

/**
 * The query flow: `GET /v1/metrics`, `/v1/metrics/{name}/series`, `/v1/query` (rollups),
 * `/v1/events` (archive) and the dashboard at `GET /`.
 *
 * The function may read the rollups table and the archive and look API key hashes up; it can
 * write nothing.
 */
export class Query extends Construct {
  public readonly function: NodejsFunction;
  public readonly role: iam.Role;
  public readonly logGroup: logs.LogGroup;
  public readonly routes: apigwv2.HttpRoute[];

  constructor(scope: Construct, id: string, props: QueryProps) {
    super(scope, id);
    const fn = new StreamfoldFunction(this, 'Handler', {
      definition: props.definition ?? FUNCTIONS.query,
      prefix: props.prefix,
      logLevel: props.logLevel,
    });
    this.function = fn.function;
    this.role = fn.role;
    this.logGroup = fn.logGroup;

    props.storage.bindRollups(this.function, 'read');
    props.storage.bindTenants(this.function, 'lookup');
    props.storage.bindArchive(this.function, 'read');
    this.routes = props.api.addRoutes('query', this.function);

    props.monitoring?.monitorFunction('Query', this.function);
  }
}
