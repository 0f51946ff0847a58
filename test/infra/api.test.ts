import { Duration, type Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as acm from 'aws-cdk-lib/aws-certificatemanager';
import { beforeAll, describe, expect, it } from 'vitest';
import { CORS_ALLOWED_HEADERS, StreamfoldApi, type StreamfoldApiProps } from '../../lib/constructs/api.ts';
import { StreamfoldFunction } from '../../lib/constructs/function.ts';
import { ROUTES, routeKey } from '../../lib/routes.ts';
import { fixtureDef, logicalIdOf, nagFindings, testStack } from './fixtures/cdk.ts';

/** No test here looks at a bundle: skip esbuild. */
const NO_BUNDLING = { 'aws:cdk:bundling-stacks': [] };
const CERTIFICATE_ARN = 'arn:aws:acm:eu-west-1:123456789012:certificate/0f1e2d3c-4b5a-6978-8091-a2b3c4d5e6f7';

describe('Construct: StreamfoldApi', () => {
  // One synth for the API with both targets' routes and CORS for a dashboard.
  let stack: Stack;
  let api: StreamfoldApi;
  let intake: StreamfoldFunction;
  let query: StreamfoldFunction;
  let template: Template;

  beforeAll(() => {
    stack = testStack('Test', NO_BUNDLING);
    api = new StreamfoldApi(stack, 'Api', { corsAllowedOrigins: ['https://dashboard.example.com'] });
    intake = new StreamfoldFunction(stack, 'Intake', { definition: fixtureDef('intake') });
    query = new StreamfoldFunction(stack, 'Query', { definition: fixtureDef('query') });
    api.addRoutes('intake', intake.function);
    api.addRoutes('query', query.function);
    template = Template.fromStack(stack);
  });

  it('serves an explicit, auto-deployed $default stage with default route throttling', () => {
    // Assess
    template.resourceCountIs('AWS::ApiGatewayV2::Stage', 1);
    template.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
      ApiId: { Ref: logicalIdOf(api.httpApi) },
      StageName: '$default',
      AutoDeploy: true,
      DefaultRouteSettings: { ThrottlingRateLimit: 1000, ThrottlingBurstLimit: 2000 },
    });
    template.hasResourceProperties('AWS::ApiGatewayV2::Api', { Name: 'streamfold-api', ProtocolType: 'HTTP' });
  });

  it('writes one JSON access log line per request to a log group with a retention, without headers', () => {
    // Prepare
    const stage = Object.values(template.findResources('AWS::ApiGatewayV2::Stage'))[0]!;
    const settings = stage['Properties']['AccessLogSettings'] as { DestinationArn: unknown; Format: string };

    // Assess
    expect(settings.DestinationArn).toEqual({ 'Fn::GetAtt': [logicalIdOf(api.accessLogGroup), 'Arn'] });
    const format = JSON.parse(settings.Format) as Record<string, string>;
    expect(format).toMatchObject({
      requestId: '$context.requestId',
      routeKey: '$context.routeKey',
      status: '$context.status',
      integrationErrorMessage: '$context.integrationErrorMessage',
      errorMessage: '$context.error.message',
    });
    // API keys travel in headers: no header may be logged.
    expect(Object.values(format).filter((v) => v.includes('header'))).toEqual([]);
    template.hasResourceProperties('AWS::Logs::LogGroup', { RetentionInDays: 30 });
  });

  it('creates every route of lib/routes.ts on its target function, payload format 2.0', () => {
    // Assess
    template.resourceCountIs('AWS::ApiGatewayV2::Route', ROUTES.length);
    template.resourceCountIs('AWS::ApiGatewayV2::Integration', 2);
    const integrations = template.findResources('AWS::ApiGatewayV2::Integration');
    const integrationOf = (fn: StreamfoldFunction) =>
      Object.entries(integrations).find(
        ([, r]) => JSON.stringify(r['Properties']['IntegrationUri']) === JSON.stringify({ 'Fn::GetAtt': [logicalIdOf(fn.function), 'Arn'] }),
      )?.[0];
    for (const fn of [intake, query]) {
      template.hasResourceProperties('AWS::ApiGatewayV2::Integration', {
        IntegrationType: 'AWS_PROXY',
        PayloadFormatVersion: '2.0',
        IntegrationUri: { 'Fn::GetAtt': [logicalIdOf(fn.function), 'Arn'] },
      });
    }
    // A metric name may hold "/" (decoded from %2F before routing): the series route is greedy.
    template.hasResourceProperties('AWS::ApiGatewayV2::Route', { RouteKey: 'GET /v1/metrics/{name+}' });
    for (const route of ROUTES) {
      const target = route.target === 'intake' ? intake : query;
      template.hasResourceProperties('AWS::ApiGatewayV2::Route', {
        RouteKey: routeKey(route),
        Target: { 'Fn::Join': ['', ['integrations/', { Ref: integrationOf(target) }]] },
      });
    }
  });

  it('lets this API, and only this API, invoke each function', () => {
    // Assess: one permission per function, scoped to this API's ARN
    for (const fn of [intake, query]) {
      template.resourcePropertiesCountIs(
        'AWS::Lambda::Permission',
        { FunctionName: { 'Fn::GetAtt': [logicalIdOf(fn.function), 'Arn'] } },
        1,
      );
      template.hasResourceProperties('AWS::Lambda::Permission', {
        Action: 'lambda:InvokeFunction',
        Principal: 'apigateway.amazonaws.com',
        FunctionName: { 'Fn::GetAtt': [logicalIdOf(fn.function), 'Arn'] },
        SourceArn: {
          'Fn::Join': ['', Match.arrayWith([{ Ref: logicalIdOf(api.httpApi) }, '/*/*/*'])],
        },
      });
    }
  });

  it('answers CORS preflights for the dashboard origin only', () => {
    // Assess
    template.hasResourceProperties('AWS::ApiGatewayV2::Api', {
      CorsConfiguration: {
        AllowOrigins: ['https://dashboard.example.com'],
        AllowMethods: ['GET', 'POST'],
        AllowHeaders: [...CORS_ALLOWED_HEADERS],
        MaxAge: 3600,
      },
    });
    expect(CORS_ALLOWED_HEADERS).toEqual(['content-type', 'x-api-key', 'dd-api-key', 'idempotency-key', 'content-encoding']);
  });

  it('has no unacknowledged cdk-nag findings', () => {
    // Act + Assess
    expect(nagFindings(stack)).toEqual([]);
  });

  it('refuses to add the routes of a target twice', () => {
    // Act + Assess
    expect(() => api.addRoutes('intake', intake.function)).toThrow('StreamfoldApi: the intake routes were already added');
  });

  it('has no CORS configuration by default, and takes its throttling limits', () => {
    // Prepare
    const other = testStack();

    // Act
    new StreamfoldApi(other, 'Api', { prefix: 'sf-test', throttlingRateLimit: 50, throttlingBurstLimit: 100 });

    // Assess
    const t = Template.fromStack(other);
    t.hasResourceProperties('AWS::ApiGatewayV2::Api', { Name: 'sf-test-api', CorsConfiguration: Match.absent() });
    t.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
      DefaultRouteSettings: { ThrottlingRateLimit: 50, ThrottlingBurstLimit: 100 },
    });
  });

  it('maps a custom domain to the $default stage, TLS 1.2, and gives its URL', () => {
    // Prepare
    const other = testStack();
    const certificate = acm.Certificate.fromCertificateArn(other, 'Cert', CERTIFICATE_ARN);

    // Act
    const custom = new StreamfoldApi(other, 'Api', {
      domainName: 'events.example.com',
      certificate,
      disableExecuteApiEndpoint: true,
    });

    // Assess
    const t = Template.fromStack(other);
    t.hasResourceProperties('AWS::ApiGatewayV2::DomainName', {
      DomainName: 'events.example.com',
      DomainNameConfigurations: [
        { CertificateArn: CERTIFICATE_ARN, EndpointType: 'REGIONAL', SecurityPolicy: 'TLS_1_2' },
      ],
    });
    t.hasResourceProperties('AWS::ApiGatewayV2::ApiMapping', {
      ApiId: { Ref: logicalIdOf(custom.httpApi) },
      DomainName: { Ref: logicalIdOf(custom.domainName!) },
      Stage: '$default',
    });
    t.hasResourceProperties('AWS::ApiGatewayV2::Api', { DisableExecuteApiEndpoint: true });
    expect(custom.url).toBe('https://events.example.com/');
  });

  describe('rejects contradictory props at synth', () => {
    const certificate = (s: Stack) => acm.Certificate.fromCertificateArn(s, 'Cert', CERTIFICATE_ARN);
    it.each([
      ['a domain without a certificate', () => ({ domainName: 'events.example.com' }), "domainName events.example.com needs a certificate (an ACM certificate in the stack's region)"],
      ['a certificate without a domain', (s: Stack) => ({ certificate: certificate(s) }), 'certificate is set but domainName is not; give both for a custom domain, or neither'],
      ['a URL as domain name', (s: Stack) => ({ domainName: 'https://events.example.com', certificate: certificate(s) }), 'domainName "https://events.example.com" is not a lower-case host name'],
      ['no execute-api URL and no domain', () => ({ disableExecuteApiEndpoint: true }), 'disableExecuteApiEndpoint without a domainName would leave the API unreachable'],
      ["'*' with other origins", () => ({ corsAllowedOrigins: ['*', 'https://a.example.com'] }), "corsAllowedOrigins: '*' allows every origin and cannot be combined with others"],
      ['an origin with a path', () => ({ corsAllowedOrigins: ['https://a.example.com/'] }), 'corsAllowedOrigins: "https://a.example.com/" is not an origin'],
      ['a CORS max age without origins', () => ({ corsMaxAge: Duration.minutes(5) }), 'corsMaxAge is set but corsAllowedOrigins is empty'],
      ['a zero rate limit', () => ({ throttlingRateLimit: 0 }), 'throttlingRateLimit must be a positive number of requests per second, got 0'],
      ['a fractional burst', () => ({ throttlingBurstLimit: 10.5 }), 'throttlingBurstLimit must be a whole number >= 1, got 10.5'],
    ] satisfies Array<[string, (s: Stack) => StreamfoldApiProps, string]>)('%s', (_label, props, message) => {
      // Prepare
      const other = testStack();

      // Act + Assess
      expect(() => new StreamfoldApi(other, 'Api', props(other))).toThrow(`StreamfoldApi: ${message}`);
    });
  });
});
