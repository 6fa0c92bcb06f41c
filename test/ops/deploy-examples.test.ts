import { describe, expect, it } from "vitest";
import { readFile } from "node:fs/promises";
import { resolve } from "node:path";
import { Cron } from "croner";
import { parseAllDocuments, parse } from "yaml";
import { fileConfigSchema } from "../../src/config/schema.js";

const DEPLOY = resolve(import.meta.dirname, "../../deploy");

// Kubernetes manifests are deep, loosely typed documents: tests walk them by known paths.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Doc = Record<string, any>;

async function docs(file: string): Promise<Doc[]> {
  return parseAllDocuments(await readFile(resolve(DEPLOY, file), "utf8")).map((d) => {
    expect(d.errors, file).toEqual([]);
    return d.toJS() as Doc;
  });
}

describe("deploy/ examples", () => {
  it("the Kubernetes ConfigMap carries a holdfast.yaml our schema accepts", async () => {
    const [configMap] = await docs("kubernetes/configmap.yaml");
    const result = fileConfigSchema.safeParse(parse(configMap!.data["holdfast.yaml"]));
    expect(result.success, JSON.stringify(result.error?.issues)).toBe(true);
    expect(result.data!.databases!.app!.schedule!.backup).toBe("0 2 * * *");
  });

  it("the Deployment runs the daemon with a liveness probe on /health and the metrics port exposed", async () => {
    const [deployment, service] = await docs("kubernetes/deployment.yaml");
    expect(deployment!.kind).toBe("Deployment");
    const container = deployment!.spec.template.spec.containers[0];
    expect(container.args.slice(0, 3)).toEqual(["daemon", "--config", "/etc/holdfast/holdfast.yaml"]);
    expect(container.livenessProbe.httpGet.path).toBe("/health");
    expect(deployment!.spec.replicas).toBe(1);
    expect(service!.spec.ports[0].port).toBe(9187);
  });

  it("the CronJob has a valid schedule and never overlaps", async () => {
    const [cronJob] = await docs("kubernetes/cronjob.yaml");
    expect(() => new Cron(cronJob!.spec.schedule, { paused: true })).not.toThrow();
    expect(cronJob!.spec.concurrencyPolicy).toBe("Forbid");
    expect(cronJob!.spec.jobTemplate.spec.template.spec.containers[0].args[0]).toContain("holdfast prune --database app");
  });

  it("the systemd units name real holdfast commands", async () => {
    const service = await readFile(resolve(DEPLOY, "systemd/holdfast-daemon.service"), "utf8");
    expect(service).toMatch(/^ExecStart=\/usr\/bin\/holdfast daemon --config \S+/m);
    expect(service).toMatch(/^ExecReload=\/bin\/kill -HUP \$MAINPID$/m);
    const timer = await readFile(resolve(DEPLOY, "systemd/holdfast-backup@.timer"), "utf8");
    expect(timer).toMatch(/^OnCalendar=\*-\*-\* 02:00:00$/m);
    expect(timer).toMatch(/^Persistent=true$/m);
  });
});
