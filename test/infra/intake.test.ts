import { Match, Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../bin/streamfold.ts';
import { FUNCTIONS } from '../../lib/functions.ts';
import { BUCKETS, STREAM, TABLES } from '../../lib/resources.ts';
import { ROUTES, routeKey } from '../../lib/routes.ts';
import type { StreamfoldStack } from '../../lib/stack.ts';
import { actionsOf, logicalIdOf, roleStatements, type PolicyStatementJson } from './fixtures/cdk.ts';

/** Actions of `statements` whose resources mention `logicalId`. */
function actionsOn(statements: PolicyStatementJson[], logicalId: string): string[] {
  return actionsOf(statements.filter((s) => JSON.stringify(s.Resource).includes(`"${logicalId}"`)));
}

const WRITES = ['PutItem', 'UpdateItem', 'DeleteItem', 'BatchWriteItem'].map((a) => `dynamodb:${a}`);

describe('Construct: Intake, as the stack wires it', () => {
  // One synth of the whole app (real intake bundle) for the file.
  let stack: StreamfoldStack;
  let template: Template;
  let statements: PolicyStatementJson[];

  beforeAll(() => {
    const app = createApp({ builtinCloudFormationValidation: false, context: { prefix: 'sf-test' } });
    stack = app.node.findChild('Streamfold') as StreamfoldStack;
    template = Template.fromStack(stack);
    statements = roleStatements(template, logicalIdOf(stack.intake.role));
  });

  it('deploys FUNCTIONS.intake, told where the stream and its two tables are, and nothing more', () => {
    // Assess: the variables are the ones functions/shared/config.ts reads (lib/resources.ts)
    template.hasResourceProperties('AWS::Lambda::Function', {
      FunctionName: 'sf-test-intake',
      MemorySize: FUNCTIONS.intake.memoryMb,
      Timeout: FUNCTIONS.intake.timeoutSeconds,
      Environment: {
        Variables: {
          POWERTOOLS_SERVICE_NAME: 'intake',
          POWERTOOLS_METRICS_NAMESPACE: 'sf-test',
          POWERTOOLS_LOG_LEVEL: 'INFO',
          NODE_OPTIONS: '--enable-source-maps',
          [STREAM.envVar]: { Ref: logicalIdOf(stack.events.stream) },
          [TABLES.tenants.envVar]: { Ref: logicalIdOf(stack.storage.tables.tenants) },
          [TABLES.idempotency.envVar]: { Ref: logicalIdOf(stack.storage.tables.idempotency) },
        },
      },
    });
    // Below API Gateway's 30 s integration timeout, so a slow request gets the function's answer.
    expect(FUNCTIONS.intake.timeoutSeconds).toBeLessThan(30);
  });

  it('may put records on the stream, but not read it', () => {
    // Prepare
    const onStream = actionsOn(statements, logicalIdOf(stack.events.stream));

    // Assess
    expect(onStream).toEqual(expect.arrayContaining(['kinesis:PutRecords']));
    expect(onStream.filter((a) => /^kinesis:(Get|Subscribe|Describe|Delete|Update|Split|Merge)/.test(a))).toEqual([]);
  });

  it('may only look API key hashes up in the tenants table: no scan, no write', () => {
    // Prepare
    const onTenants = actionsOn(statements, logicalIdOf(stack.storage.tables.tenants));

    // Assess
    expect(onTenants).toEqual(['dynamodb:GetItem']);
    expect(onTenants.filter((a) => WRITES.includes(a))).toEqual([]);
  });

  it('may read and write idempotency records', () => {
    // Prepare
    const onIdempotency = actionsOn(statements, logicalIdOf(stack.storage.tables.idempotency));

    // Assess
    expect(onIdempotency).toEqual(expect.arrayContaining(['dynamodb:GetItem', 'dynamodb:PutItem']));
  });

  it('cannot touch the rollups or the archive, nor use wildcards', () => {
    // Assess
    expect(actionsOn(statements, logicalIdOf(stack.storage.tables.rollups))).toEqual([]);
    expect(actionsOn(statements, logicalIdOf(stack.storage.archiveBucket))).toEqual([]);
    expect(actionsOf(statements).filter((a) => a.startsWith('s3:'))).toEqual([]);
    expect(actionsOf(statements).filter((a) => a.includes('*'))).toEqual([]);
    expect(statements.filter((s) => JSON.stringify(s.Resource).includes('"*"'))).toEqual([]);
    const fn = Object.values(template.findResources('AWS::Lambda::Function', { Properties: { FunctionName: 'sf-test-intake' } }))[0]!;
    const variables = Object.keys(fn['Properties']['Environment']['Variables'] as object);
    expect(variables).not.toContain(TABLES.rollups.envVar);
    expect(variables).not.toContain(BUCKETS.archive.envVar);
  });

  it('serves the intake routes of lib/routes.ts on the API', () => {
    // Prepare
    const intakeRoutes = ROUTES.filter((r) => r.target === 'intake');

    // Assess
    expect(stack.intake.routes).toHaveLength(intakeRoutes.length);
    for (const route of intakeRoutes) {
      template.hasResourceProperties('AWS::ApiGatewayV2::Route', {
        ApiId: { Ref: logicalIdOf(stack.api.httpApi) },
        RouteKey: routeKey(route),
      });
    }
    template.hasResourceProperties('AWS::ApiGatewayV2::Integration', {
      IntegrationType: 'AWS_PROXY',
      PayloadFormatVersion: '2.0',
      IntegrationUri: { 'Fn::GetAtt': [logicalIdOf(stack.intake.function), 'Arn'] },
    });
  });

  it('alarms on its errors and throttles, and outputs the API URL', () => {
    // Prepare
    const dimensions = [{ Name: 'FunctionName', Value: { Ref: logicalIdOf(stack.intake.function) } }];

    // Assess
    for (const metricName of ['Errors', 'Throttles']) {
      template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        MetricName: metricName,
        Namespace: 'AWS/Lambda',
        Dimensions: dimensions,
        AlarmActions: [{ Ref: logicalIdOf(stack.monitoring.alarmTopic) }],
      });
    }
    template.hasOutput('ApiUrl', {
      Value: {
        'Fn::Join': ['', Match.arrayWith(['https://', { Ref: logicalIdOf(stack.api.httpApi) }])],
      },
    });
  });
});
