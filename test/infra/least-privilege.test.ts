/**
 * Least privilege, pinned: every function role of the whole stack, with exactly the actions and
 * resources it has (logs, its own queue and the stream's read actions aside: the consumer and
 * function tests pin those). A new grant anywhere fails here until it is added on purpose.
 */
import type { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../bin/streamfold.ts';
import type { StreamfoldStack } from '../../lib/stack.ts';
import { actionsOf, logicalIdOf, roleStatements, type PolicyStatementJson } from './fixtures/cdk.ts';

const NO_BUNDLING = { 'aws:cdk:bundling-stacks': [] };

/** `action resource` per statement, resources named by the construct they belong to. */
function grants(statements: PolicyStatementJson[], names: ReadonlyMap<string, string>): string[] {
  const out: string[] = [];
  for (const s of statements) {
    const resources = Array.isArray(s.Resource) ? s.Resource : [s.Resource];
    for (const r of resources) {
      const json = JSON.stringify(r);
      let name = json;
      for (const [id, n] of names) if (json.includes(`"${id}"`)) name = n;
      const suffix = /\/([a-z]+\/\*)"/.exec(json)?.[1] ?? (/\/index\/\*"/.test(json) ? 'index/*' : undefined);
      if (suffix !== undefined) name = `${name}/${suffix}`;
      for (const a of actionsOf([s])) {
        if (/^(logs|sqs|kinesis|kms|xray):/.test(a)) continue;
        out.push(`${a} ${name}${s.Condition ? ` if ${JSON.stringify(s.Condition)}` : ''}`);
      }
    }
  }
  return [...new Set(out)].sort();
}

describe('Least privilege: every function role', () => {
  let app: App;
  let stack: StreamfoldStack;
  let template: Template;
  let names: Map<string, string>;

  beforeAll(() => {
    app = createApp({ builtinCloudFormationValidation: false, context: NO_BUNDLING });
    stack = app.node.findChild('Streamfold') as StreamfoldStack;
    template = Template.fromStack(stack);
    names = new Map([
      [logicalIdOf(stack.storage.tables.rollups), 'rollups'],
      [logicalIdOf(stack.storage.tables.tenants), 'tenants'],
      [logicalIdOf(stack.storage.tables.idempotency), 'idempotency'],
      [logicalIdOf(stack.storage.archiveBucket), 'archive'],
    ]);
  });

  const listEvents = 's3:ListBucket archive if {"StringLike":{"s3:prefix":["events/*"]}}';

  it.each([
    ['intake', ['dynamodb:GetItem idempotency', 'dynamodb:GetItem tenants', 'dynamodb:PutItem idempotency']],
    ['query', ['dynamodb:BatchGetItem rollups', 'dynamodb:GetItem rollups', 'dynamodb:GetItem tenants', 'dynamodb:Query rollups', 's3:GetObject archive/events/*', listEvents]],
    ['rollup', ['dynamodb:BatchGetItem rollups', 'dynamodb:GetItem rollups', 'dynamodb:PutItem rollups', 'dynamodb:UpdateItem rollups']],
    ['sweeper', ['dynamodb:BatchGetItem rollups', 'dynamodb:GetItem rollups', 'dynamodb:PutItem rollups', 'dynamodb:Query rollups', 'dynamodb:UpdateItem rollups']],
    [
      'archive',
      ['s3:AbortMultipartUpload archive/events/*', 's3:AbortMultipartUpload archive/quarantine/*', 's3:PutObject archive/events/*', 's3:PutObject archive/quarantine/*'],
    ],
    [
      'compaction',
      ['s3:AbortMultipartUpload archive/events/*', 's3:DeleteObject archive/events/*', 's3:GetObject archive/events/*', 's3:PutObject archive/events/*', listEvents],
    ],
  ] as const)('%s has exactly its grants', (fn, want) => {
    // Prepare
    const role = {
      intake: stack.intake.role,
      query: stack.query.role,
      rollup: stack.rollup.role,
      sweeper: stack.rollup.sweeper.role,
      archive: stack.archive.role,
      compaction: stack.archive.compaction.role,
    }[fn];

    // Act
    const got = grants(roleStatements(template, logicalIdOf(role)), names);

    // Assess
    expect(got).toEqual([...want].sort());
  });

  it('lets CloudWatch use the alarm key and topic only for alarms of this account', () => {
    const key = Object.values(template.findResources('AWS::KMS::Key')).find((k) => JSON.stringify(k).includes('cloudwatch.amazonaws.com'))!;
    const statement = (key['Properties']['KeyPolicy']['Statement'] as Array<Record<string, unknown>>).find((s) => JSON.stringify(s['Principal']).includes('cloudwatch.amazonaws.com'))!;
    expect(statement['Condition']).toEqual({ StringEquals: { 'aws:SourceAccount': { Ref: 'AWS::AccountId' } } });
  });
});
