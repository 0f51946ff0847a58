/**
 * The OTLP metrics messages in protobufjs's JSON descriptor form, for the baseline decoder of
 * bench/otlp.ts: field names, numbers, types and labels transcribed from
 * open-telemetry/opentelemetry-proto (collector/metrics/v1/metrics_service.proto,
 * metrics/v1/metrics.proto, common/v1/common.proto, resource/v1/resource.proto; the repository's
 * files are not copied here). Every field of every message a metrics request can hold.
 */
const f = (id: number, type: string, rule?: 'repeated') => ({ id, type, ...(rule ? { rule } : {}) });

export const OTLP_DESCRIPTOR = {
  nested: {
    otlp: {
      nested: {
        ExportMetricsServiceRequest: { fields: { resourceMetrics: f(1, 'ResourceMetrics', 'repeated') } },
        ResourceMetrics: { fields: { resource: f(1, 'Resource'), scopeMetrics: f(2, 'ScopeMetrics', 'repeated'), schemaUrl: f(3, 'string') } },
        Resource: { fields: { attributes: f(1, 'KeyValue', 'repeated'), droppedAttributesCount: f(2, 'uint32'), entityRefs: f(3, 'EntityRef', 'repeated') } },
        EntityRef: { fields: { schemaUrl: f(1, 'string'), type: f(2, 'string'), idKeys: f(3, 'string', 'repeated'), descriptionKeys: f(4, 'string', 'repeated') } },
        ScopeMetrics: { fields: { scope: f(1, 'InstrumentationScope'), metrics: f(2, 'Metric', 'repeated'), schemaUrl: f(3, 'string') } },
        InstrumentationScope: { fields: { name: f(1, 'string'), version: f(2, 'string'), attributes: f(3, 'KeyValue', 'repeated'), droppedAttributesCount: f(4, 'uint32') } },
        Metric: {
          oneofs: { data: { oneof: ['gauge', 'sum', 'histogram', 'exponentialHistogram', 'summary'] } },
          fields: {
            name: f(1, 'string'),
            description: f(2, 'string'),
            unit: f(3, 'string'),
            gauge: f(5, 'Gauge'),
            sum: f(7, 'Sum'),
            histogram: f(9, 'Histogram'),
            exponentialHistogram: f(10, 'ExponentialHistogram'),
            summary: f(11, 'Summary'),
            metadata: f(12, 'KeyValue', 'repeated'),
          },
        },
        Gauge: { fields: { dataPoints: f(1, 'NumberDataPoint', 'repeated') } },
        Sum: { fields: { dataPoints: f(1, 'NumberDataPoint', 'repeated'), aggregationTemporality: f(2, 'int32'), isMonotonic: f(3, 'bool') } },
        Histogram: { fields: { dataPoints: f(1, 'HistogramDataPoint', 'repeated'), aggregationTemporality: f(2, 'int32') } },
        ExponentialHistogram: { fields: { dataPoints: f(1, 'ExponentialHistogramDataPoint', 'repeated'), aggregationTemporality: f(2, 'int32') } },
        Summary: { fields: { dataPoints: f(1, 'SummaryDataPoint', 'repeated') } },
        NumberDataPoint: {
          oneofs: { value: { oneof: ['asDouble', 'asInt'] } },
          fields: {
            attributes: f(7, 'KeyValue', 'repeated'),
            startTimeUnixNano: f(2, 'fixed64'),
            timeUnixNano: f(3, 'fixed64'),
            asDouble: f(4, 'double'),
            asInt: f(6, 'sfixed64'),
            exemplars: f(5, 'Exemplar', 'repeated'),
            flags: f(8, 'uint32'),
          },
        },
        HistogramDataPoint: {
          fields: {
            attributes: f(9, 'KeyValue', 'repeated'),
            startTimeUnixNano: f(2, 'fixed64'),
            timeUnixNano: f(3, 'fixed64'),
            count: f(4, 'fixed64'),
            sum: f(5, 'double'),
            bucketCounts: f(6, 'fixed64', 'repeated'),
            explicitBounds: f(7, 'double', 'repeated'),
            exemplars: f(8, 'Exemplar', 'repeated'),
            flags: f(10, 'uint32'),
            min: f(11, 'double'),
            max: f(12, 'double'),
          },
        },
        ExponentialHistogramDataPoint: {
          fields: {
            attributes: f(1, 'KeyValue', 'repeated'),
            startTimeUnixNano: f(2, 'fixed64'),
            timeUnixNano: f(3, 'fixed64'),
            count: f(4, 'fixed64'),
            sum: f(5, 'double'),
            scale: f(6, 'sint32'),
            zeroCount: f(7, 'fixed64'),
            positive: f(8, 'Buckets'),
            negative: f(9, 'Buckets'),
            flags: f(10, 'uint32'),
            exemplars: f(11, 'Exemplar', 'repeated'),
            min: f(12, 'double'),
            max: f(13, 'double'),
            zeroThreshold: f(14, 'double'),
          },
        },
        Buckets: { fields: { offset: f(1, 'sint32'), bucketCounts: f(2, 'uint64', 'repeated') } },
        SummaryDataPoint: {
          fields: {
            attributes: f(7, 'KeyValue', 'repeated'),
            startTimeUnixNano: f(2, 'fixed64'),
            timeUnixNano: f(3, 'fixed64'),
            count: f(4, 'fixed64'),
            sum: f(5, 'double'),
            quantileValues: f(6, 'ValueAtQuantile', 'repeated'),
            flags: f(8, 'uint32'),
          },
        },
        ValueAtQuantile: { fields: { quantile: f(1, 'double'), value: f(2, 'double') } },
        Exemplar: {
          oneofs: { value: { oneof: ['asDouble', 'asInt'] } },
          fields: { filteredAttributes: f(7, 'KeyValue', 'repeated'), timeUnixNano: f(2, 'fixed64'), asDouble: f(3, 'double'), asInt: f(6, 'sfixed64'), spanId: f(4, 'bytes'), traceId: f(5, 'bytes') },
        },
        KeyValue: { fields: { key: f(1, 'string'), value: f(2, 'AnyValue'), keyStrindex: f(3, 'int32') } },
        AnyValue: {
          oneofs: { value: { oneof: ['stringValue', 'boolValue', 'intValue', 'doubleValue', 'arrayValue', 'kvlistValue', 'bytesValue', 'stringValueStrindex'] } },
          fields: {
            stringValue: f(1, 'string'),
            boolValue: f(2, 'bool'),
            intValue: f(3, 'int64'),
            doubleValue: f(4, 'double'),
            arrayValue: f(5, 'ArrayValue'),
            kvlistValue: f(6, 'KeyValueList'),
            bytesValue: f(7, 'bytes'),
            stringValueStrindex: f(8, 'int32'),
          },
        },
        ArrayValue: { fields: { values: f(1, 'AnyValue', 'repeated') } },
        KeyValueList: { fields: { values: f(1, 'KeyValue', 'repeated') } },
      },
    },
  },
};
