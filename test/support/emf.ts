import type { Context } from 'aws-lambda';
import { lambdaContext } from '../../cli/lambda.ts';

export type Handler = (event: unknown, context: Context) => Promise<unknown>;

/** One metric value as CloudWatch reads it from an EMF line: its name, value and dimensions. */
export interface Emitted {
  namespace: string;
  name: string;
  unit: string;
  value: unknown;
  dimensions: Record<string, unknown>;
}

/**
 * Invokes a function's handler with stdout captured, as Lambda's log stream would have it; returns its
 * result and the metrics of the embedded metric format lines among what it wrote.
 */
export async function invoke(
  handler: Handler,
  event: unknown,
): Promise<{ result: unknown; metrics: Emitted[] }> {
  const written: string[] = [];
  const write = process.stdout.write;
  process.stdout.write = ((chunk: string | Uint8Array) => {
    written.push(String(chunk));
    return true;
  }) as typeof process.stdout.write;
  let result: unknown;
  try {
    result = await handler(event, lambdaContext('mirrorops-test', 60));
  } finally {
    process.stdout.write = write;
  }
  const lines = written
    .join('')
    .split('\n')
    .filter((line) => line.includes('"_aws"'))
    .map((line) => JSON.parse(line) as Record<string, unknown>);
  const metrics = lines.flatMap((line) => {
    const aws = line._aws as {
      CloudWatchMetrics: {
        Namespace: string;
        Dimensions: string[][];
        Metrics: { Name: string; Unit: string }[];
      }[];
    };
    return aws.CloudWatchMetrics.flatMap((directive) =>
      directive.Metrics.map((m) => ({
        namespace: directive.Namespace,
        name: m.Name,
        unit: m.Unit,
        value: line[m.Name],
        dimensions: Object.fromEntries((directive.Dimensions[0] ?? []).map((d) => [d, line[d]])),
      })),
    );
  });
  return { result, metrics };
}
