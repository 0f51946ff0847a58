import { Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../bin/streamfold.ts';
import { FUNCTIONS } from '../../lib/functions.ts';
import { BUCKETS, STREAM, TABLES } from '../../lib/resources.ts';
import { ROUTES, routeKey } from '../../lib/routes.ts';
import type { StreamfoldStack } from '../../lib/stack.ts';
import { actionsOf, logicalIdOf, roleStatements, type PolicyStatementJson } from './fixtures/cdk.ts';

const NO_BUNDLING = { 'aws:cdk:bundling-stacks': [] };

function actionsOn(statements: PolicyStatementJson[], logicalId: string): string[] {
  return actionsOf(statements.filter((s) => JSON.stringify(s.Resource).includes(`"${logicalId}"`)));
}

describe('Construct: Query, as the stack wires it', () => {
  let stack: StreamfoldStack;
  let template: Template;
  let statements: PolicyStatementJson[];

  beforeAll(() => {
    const app = createApp({ builtinCloudFormationValidation: false, context: { prefix: 'sf-test', ...NO_BUNDLING } });
    stack = app.node.findChild('Streamfold') as StreamfoldStack;
    template = Template.fromStack(stack);
    statements = roleStatements(template, logicalIdOf(stack.query.role));
  });

  it('deploys FUNCTIONS.query, told where the rollups, tenants and archive are', () => {
    template.hasResourceProperties('AWS::Lambda::Function', {
      FunctionName: 'sf-test-query',
      MemorySize: FUNCTIONS.query.memoryMb,
      Timeout: FUNCTIONS.query.timeoutSeconds,
      Environment: {
        Variables: {
          POWERTOOLS_SERVICE_NAME: 'query',
          [TABLES.rollups.envVar]: { Ref: logicalIdOf(stack.storage.tables.rollups) },
          [TABLES.tenants.envVar]: { Ref: logicalIdOf(stack.storage.tables.tenants) },
          [BUCKETS.archive.envVar]: { Ref: logicalIdOf(stack.storage.archiveBucket) },
        },
      },
    });
    expect(FUNCTIONS.query.timeoutSeconds).toBeLessThan(30);
  });

  it('can read but never write: no DynamoDB write, no S3 put or delete, no stream, no idempotency', () => {
    const all = actionsOf(statements);
    expect(all.filter((a) => /^dynamodb:(Put|Update|Delete|BatchWrite)/.test(a))).toEqual([]);
    expect(all.filter((a) => /^s3:(Put|Delete|Abort)/.test(a))).toEqual([]);
    expect(all.filter((a) => a.startsWith('kinesis:'))).toEqual([]);
    expect(actionsOn(statements, logicalIdOf(stack.storage.tables.tenants))).toEqual(['dynamodb:GetItem']);
    expect(actionsOn(statements, logicalIdOf(stack.storage.tables.idempotency))).toEqual([]);
    expect(actionsOn(statements, logicalIdOf(stack.storage.tables.rollups))).toContain('dynamodb:Query');
    expect(actionsOn(statements, logicalIdOf(stack.storage.archiveBucket))).toEqual(expect.arrayContaining(['s3:GetObject', 's3:ListBucket']));
    const fn = Object.values(template.findResources('AWS::Lambda::Function', { Properties: { FunctionName: 'sf-test-query' } }))[0]!;
    expect(Object.keys(fn['Properties']['Environment']['Variables'] as object)).not.toContain(STREAM.envVar);
  });

  it('serves the query routes of lib/routes.ts on the API', () => {
    const queryRoutes = ROUTES.filter((r) => r.target === 'query');
    expect(stack.query.routes).toHaveLength(queryRoutes.length);
    for (const route of queryRoutes) {
      template.hasResourceProperties('AWS::ApiGatewayV2::Route', { ApiId: { Ref: logicalIdOf(stack.api.httpApi) }, RouteKey: routeKey(route) });
    }
  });
});
