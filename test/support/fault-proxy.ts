import { createServer, request, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";

export type Fault =
  | {
      status: number;
      /** S3 error code put in the XML body (SlowDown, AccessDenied, …). */
      code: string;
    }
  /** Forward the request, send the real status and headers and the body's first `afterBytes`, then reset the connection. */
  | { cut: true; afterBytes: number };

/** Decides per request whether to fail it; undefined forwards it to the real server. */
export type FaultRule = (req: IncomingMessage, seen: number) => Fault | undefined;

export interface FaultProxy {
  endpoint: string;
  /** Requests seen so far, as "METHOD /path?query". */
  requests: string[];
  setRule(rule: FaultRule | undefined): void;
  close(): Promise<void>;
}

/**
 * A real HTTP proxy on loopback in front of a real S3 server that answers chosen requests with
 * S3-style errors (throttling, 5xx, access denied): faults s3rver cannot produce by itself.
 */
export async function startFaultProxy(upstream: string): Promise<FaultProxy> {
  const target = new URL(upstream);
  const requests: string[] = [];
  let rule: FaultRule | undefined;
  const server: Server = createServer((req, res) => {
    requests.push(`${req.method} ${req.url}`);
    const fault = rule?.(req, requests.length);
    if (fault && "cut" in fault) {
      const forward = request({ host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers }, (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.once("data", (chunk: Buffer) => {
          res.write(chunk.subarray(0, fault.afterBytes));
          up.destroy();
          setTimeout(() => res.socket?.destroy(), 20);
        });
      });
      forward.on("error", () => res.destroy());
      req.pipe(forward);
      return;
    }
    if (fault) {
      req.resume();
      req.on("end", () => {
        res.writeHead(fault.status, { "content-type": "application/xml" });
        res.end(`<?xml version="1.0" encoding="UTF-8"?><Error><Code>${fault.code}</Code><Message>injected ${fault.code}</Message></Error>`);
      });
      return;
    }
    const forward = request({ host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers }, (up) => {
      res.writeHead(up.statusCode ?? 502, up.headers);
      up.pipe(res);
    });
    forward.on("error", () => res.destroy());
    req.pipe(forward);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    requests,
    setRule: (r) => (rule = r),
    close: () => new Promise((r) => server.close(() => r())),
  };
}
