import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { App, Validations, type AppProps } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { propsFromContext } from '../lib/context.ts';
import { StreamfoldStack } from '../lib/stack.ts';

/**
 * The streamfold CDK app: one stack, checked by cdk-nag's AwsSolutions pack at synth (any
 * unacknowledged finding fails the synth). Acknowledgements live next to the resources they
 * concern, each with its reason. Exported so tests synthesize exactly what `cdk synth` does.
 */
export function createApp(props: AppProps = {}): App {
  const app = new App(props);
  new StreamfoldStack(app, 'Streamfold', {
    // -c prefix=…, -c streamShards=…, -c rollupsWriteCapacity=…: lib/context.ts
    ...propsFromContext((key) => app.node.tryGetContext(key)),
    env: {
      account: process.env.CDK_DEFAULT_ACCOUNT,
      region: process.env.CDK_DEFAULT_REGION,
    },
  });
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  return app;
}

const entry = process.argv[1];
if (entry && path.resolve(entry) === fileURLToPath(import.meta.url)) {
  createApp();
}
