// The query parameters of the Loki endpoints Grafana's newer versions and Logs Drilldown call
// beside the query API: index/stats, detected_labels, detected_field/<name>/values and patterns,
// built from the schemas of src/contract/logql.ts.
import { z } from "zod";
import { LokiDetectedFieldsParams, LokiLabelParams, LokiVolumeParams } from "./logql";

/** index/stats: a selector (required, as Loki) and its range. */
export const LokiStatsParams = LokiVolumeParams.pick({ query: true, start: true, end: true, since: true });

/** detected_labels: a range and an optional selector (Grafana sends none for `{}`). */
export const LokiDetectedLabelsParams = LokiLabelParams;

/** detected_field/<name>/values: detected_fields' parameters; Grafana leaves `query` out for `{}`. */
export const LokiDetectedFieldValuesParams = LokiDetectedFieldsParams.extend({
  query: LokiDetectedFieldsParams.shape.query.optional(),
});

/** patterns: a selector, its range and a step, read and answered with no pattern (docs/grafana.md). */
export const LokiPatternsParams = LokiLabelParams.extend({ step: z.string().max(64).optional() });
