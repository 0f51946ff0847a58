import { Duration, RemovalPolicy, Token, Validations } from 'aws-cdk-lib';
import * as apigwv2 from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import { AccessLogFormat } from 'aws-cdk-lib/aws-apigateway';
import type * as acm from 'aws-cdk-lib/aws-certificatemanager';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { DEFAULT_PREFIX } from '../resources.ts';
import { ROUTES, type RouteTarget } from '../routes.ts';

/** Request headers a browser may send: content type, both API key headers, retries, gzip. */
export const CORS_ALLOWED_HEADERS = [
  'content-type',
  'x-api-key',
  'dd-api-key',
  'idempotency-key',
  'content-encoding',
] as const;

export interface StreamfoldApiProps {
  /**
   * Name prefix of the API (`<prefix>-api`).
   * @default DEFAULT_PREFIX ('streamfold')
   */
  readonly prefix?: string;
  /**
   * Steady-state requests per second across all routes of the `$default` stage. Requests above it
   * get a 429 from API Gateway before any function runs. The account-level limit (10,000 rps in
   * most regions) caps it whatever this says.
   * @default 1000
   */
  readonly throttlingRateLimit?: number;
  /**
   * Requests API Gateway lets through in a burst above the rate (token bucket size).
   * @default 2000
   */
  readonly throttlingBurstLimit?: number;
  /**
   * Origins allowed to call the API from a browser (the dashboard), e.g.
   * `['https://dashboard.example.com']`, or `['*']` for any origin. Each is a scheme and host
   * (and port), without a path or a trailing slash.
   *
   * None by default: keys are sent in headers, not cookies, so CORS does not protect the data,
   * but an empty list means no web page can use a key from a browser until the operator names
   * the dashboard's origin, and what is exposed stays explicit.
   * @default - no CORS: browsers refuse cross-origin calls
   */
  readonly corsAllowedOrigins?: readonly string[];
  /**
   * How long browsers may cache a preflight answer.
   * @default Duration.hours(1)
   */
  readonly corsMaxAge?: Duration;
  /**
   * Custom domain name of the API, e.g. `events.example.com`. Requires `certificate`. Create the
   * DNS record to `domainName.regionalDomainName` yourself (output `ApiDomainTarget`).
   * @default - no custom domain; the execute-api URL only
   */
  readonly domainName?: string;
  /**
   * ACM certificate for `domainName`, in the stack's region (a regional endpoint).
   * @default - none; required with `domainName`
   */
  readonly certificate?: acm.ICertificate;
  /**
   * Turn off the `execute-api` URL, so clients can only use the custom domain.
   * Requires `domainName`.
   * @default false
   */
  readonly disableExecuteApiEndpoint?: boolean;
  /**
   * Retention of the access log group.
   * @default logs.RetentionDays.ONE_MONTH
   */
  readonly accessLogRetention?: logs.RetentionDays;
  /**
   * Removal policy of the access log group.
   * @default RemovalPolicy.DESTROY
   */
  readonly accessLogRemovalPolicy?: RemovalPolicy;
}

export const DEFAULT_THROTTLING_RATE_LIMIT = 1000;
export const DEFAULT_THROTTLING_BURST_LIMIT = 2000;

/**
 * The HTTP API in front of the intake and query functions: an explicit `$default` stage (auto
 * deployed) with JSON access logs and default route throttling, CORS for the dashboard when asked
 * for, and an optional custom domain. Routes come from lib/routes.ts, the list the embedded HTTP
 * front serves, through {@link StreamfoldApi.addRoutes}.
 *
 * Authentication is the intake's API key scheme (hashed keys in the tenants table, checked by the
 * functions), not an API Gateway authorizer.
 */
export class StreamfoldApi extends Construct {
  public readonly httpApi: apigwv2.HttpApi;
  public readonly stage: apigwv2.HttpStage;
  public readonly accessLogGroup: logs.LogGroup;
  /** The custom domain, when `domainName` is set. */
  public readonly domainName?: apigwv2.DomainName;
  /** Base URL clients use: the custom domain's when set, else the stage's execute-api URL. */
  public readonly url: string;
  private readonly targets = new Set<RouteTarget>();

  constructor(scope: Construct, id: string, props: StreamfoldApiProps = {}) {
    super(scope, id);
    validateProps(props);
    const prefix = props.prefix ?? DEFAULT_PREFIX;
    const origins = props.corsAllowedOrigins ?? [];

    this.httpApi = new apigwv2.HttpApi(this, 'Api', {
      apiName: `${prefix}-api`,
      description: 'streamfold intake (POST /v1/events) and query API',
      // An explicit $default stage below, with access logs and throttling (cdk-nag APIG1).
      createDefaultStage: false,
      disableExecuteApiEndpoint: props.disableExecuteApiEndpoint ?? false,
      corsPreflight:
        origins.length === 0
          ? undefined
          : {
              allowOrigins: [...origins],
              allowMethods: [apigwv2.CorsHttpMethod.GET, apigwv2.CorsHttpMethod.POST],
              allowHeaders: [...CORS_ALLOWED_HEADERS],
              maxAge: props.corsMaxAge ?? Duration.hours(1),
            },
    });
    Validations.of(this.httpApi).acknowledge({
      id: 'AwsSolutions-APIG4',
      reason:
        'Callers authenticate with an API key (x-api-key or DD-API-KEY) that the functions check ' +
        'against SHA-256 hashes in the tenants table, with scopes; every request is confined to ' +
        "the key's tenant. An API Gateway authorizer would add a second key store and latency.",
    });

    this.accessLogGroup = new logs.LogGroup(this, 'AccessLogs', {
      retention: props.accessLogRetention ?? logs.RetentionDays.ONE_MONTH,
      removalPolicy: props.accessLogRemovalPolicy ?? RemovalPolicy.DESTROY,
    });

    if (props.domainName !== undefined && props.certificate !== undefined) {
      this.domainName = new apigwv2.DomainName(this, 'Domain', {
        domainName: props.domainName,
        certificate: props.certificate,
        endpointType: apigwv2.EndpointType.REGIONAL,
        securityPolicy: apigwv2.SecurityPolicy.TLS_1_2,
      });
    }

    this.stage = new apigwv2.HttpStage(this, 'DefaultStage', {
      httpApi: this.httpApi,
      stageName: '$default',
      autoDeploy: true,
      throttle: {
        rateLimit: props.throttlingRateLimit ?? DEFAULT_THROTTLING_RATE_LIMIT,
        burstLimit: props.throttlingBurstLimit ?? DEFAULT_THROTTLING_BURST_LIMIT,
      },
      accessLogSettings: {
        destination: new apigwv2.LogGroupLogDestination(this.accessLogGroup),
        format: ACCESS_LOG_FORMAT,
      },
      ...(this.domainName ? { domainMapping: { domainName: this.domainName } } : {}),
    });

    this.url = props.domainName !== undefined ? `https://${props.domainName}/` : this.stage.url;
  }

  /**
   * Routes every request of `target` in lib/routes.ts to `fn` (Lambda proxy, payload format 2.0),
   * and lets this API, and only this API, invoke `fn`.
   */
  public addRoutes(target: RouteTarget, fn: lambda.IFunction): apigwv2.HttpRoute[] {
    if (this.targets.has(target)) {
      throw new Error(`StreamfoldApi: the ${target} routes were already added`);
    }
    const routes = ROUTES.filter((r) => r.target === target);
    if (routes.length === 0) {
      throw new Error(`StreamfoldApi: lib/routes.ts has no routes for target ${target}`);
    }
    this.targets.add(target);
    const integration = new HttpLambdaIntegration(`${titleCase(target)}Integration`, fn, {
      payloadFormatVersion: apigwv2.PayloadFormatVersion.VERSION_2_0,
      // One permission for this API instead of one per route: the same least privilege (only
      // this API's routes integrate the function) and a smaller function policy.
      scopePermissionToRoute: false,
    });
    return routes.flatMap((r) =>
      this.httpApi.addRoutes({ path: r.path, methods: [apigwv2.HttpMethod[r.method]], integration }),
    );
  }
}

/**
 * One JSON object per request. No header values (API keys travel in headers) and no bodies.
 * `integrationErrorMessage` and `errorMessage` explain API Gateway's own 4xx/5xx answers.
 */
const ACCESS_LOG_FORMAT = AccessLogFormat.custom(
  JSON.stringify({
    requestId: '$context.requestId',
    requestTime: '$context.requestTimeEpoch',
    ip: '$context.identity.sourceIp',
    userAgent: '$context.identity.userAgent',
    method: '$context.httpMethod',
    routeKey: '$context.routeKey',
    path: '$context.path',
    protocol: '$context.protocol',
    status: '$context.status',
    responseLength: '$context.responseLength',
    responseLatency: '$context.responseLatency',
    integrationStatus: '$context.integrationStatus',
    integrationLatency: '$context.integrationLatency',
    integrationRequestId: '$context.integration.requestId',
    integrationErrorMessage: '$context.integrationErrorMessage',
    errorMessage: '$context.error.message',
    domainName: '$context.domainName',
  }),
);

const HOSTNAME = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/;
const ORIGIN = /^https?:\/\/(\*\.)?[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?(:\d{1,5})?$/;

function validateProps(props: StreamfoldApiProps): void {
  const fail = (message: string): never => {
    throw new Error(`StreamfoldApi: ${message}`);
  };
  const rate = props.throttlingRateLimit;
  if (rate !== undefined && !Token.isUnresolved(rate) && (!Number.isFinite(rate) || rate <= 0)) {
    fail(`throttlingRateLimit must be a positive number of requests per second, got ${rate}`);
  }
  const burst = props.throttlingBurstLimit;
  if (burst !== undefined && !Token.isUnresolved(burst) && (!Number.isInteger(burst) || burst < 1)) {
    fail(`throttlingBurstLimit must be a whole number >= 1, got ${burst}`);
  }

  const origins = props.corsAllowedOrigins ?? [];
  if (origins.includes('*') && origins.length > 1) {
    fail(`corsAllowedOrigins: '*' allows every origin and cannot be combined with others, got ${origins.join(', ')}`);
  }
  for (const origin of origins) {
    if (origin !== '*' && !Token.isUnresolved(origin) && !ORIGIN.test(origin)) {
      fail(
        `corsAllowedOrigins: ${JSON.stringify(origin)} is not an origin; use scheme://host[:port] ` +
          'without a path or trailing slash, e.g. https://dashboard.example.com',
      );
    }
  }
  if (props.corsMaxAge !== undefined && origins.length === 0) {
    fail('corsMaxAge is set but corsAllowedOrigins is empty, so there is no CORS to configure');
  }

  if (props.domainName !== undefined && props.certificate === undefined) {
    fail(`domainName ${props.domainName} needs a certificate (an ACM certificate in the stack's region)`);
  }
  if (props.certificate !== undefined && props.domainName === undefined) {
    fail('certificate is set but domainName is not; give both for a custom domain, or neither');
  }
  if (props.domainName !== undefined && !Token.isUnresolved(props.domainName) && !HOSTNAME.test(props.domainName)) {
    fail(
      `domainName ${JSON.stringify(props.domainName)} is not a lower-case host name ` +
        '(no scheme, path or trailing dot), e.g. events.example.com',
    );
  }
  if (props.disableExecuteApiEndpoint && props.domainName === undefined) {
    fail('disableExecuteApiEndpoint without a domainName would leave the API unreachable');
  }
}

function titleCase(id: string): string {
  return id.charAt(0).toUpperCase() + id.slice(1);
}
