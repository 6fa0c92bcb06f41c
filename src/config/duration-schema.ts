import { z } from "zod";
import { DURATION } from "./duration.js";

/** A duration in holdfast.yaml: 30s, 5m, 25h, 7d (the parsing itself is in duration.ts, free of zod). */
export const durationSchema = z.string().regex(DURATION, "expected a duration such as 30s, 5m, 25h or 7d");
