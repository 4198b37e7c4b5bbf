/**
 * URL rules shared by project settings and CLI callbacks. Plain http is accepted only for loopback hosts, where no
 * network sits between the browser and the listener.
 */
const LOOPBACK_HOSTS = new Set(["localhost", "127.0.0.1", "[::1]"]);

export function parseUrlOrNull(text: string): URL | null {
  try {
    return new URL(text);
  } catch {
    return null;
  }
}

export function isLoopbackHost(hostname: string): boolean {
  return LOOPBACK_HOSTS.has(hostname) || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(hostname);
}

/** An exact browser origin: scheme, host and optional port, nothing else (what the Origin header carries). */
export function isExactOrigin(text: string): boolean {
  const url = parseUrlOrNull(text);
  return (
    url !== null &&
    (url.protocol === "https:" || url.protocol === "http:") &&
    url.origin === text &&
    (HOSTNAME_PATTERN.test(url.hostname) || /^\[[0-9a-f:.]+\]$/.test(url.hostname))
  );
}

/** https anywhere, http only on loopback; no credentials in the URL. */
export function isSecureWebUrl(text: string): boolean {
  const url = parseUrlOrNull(text);
  if (url === null || url.username !== "" || url.password !== "") return false;
  return url.protocol === "https:" || (url.protocol === "http:" && isLoopbackHost(url.hostname));
}

const HOSTNAME_PATTERN =
  /^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/;

/**
 * An entry of a project's callback hosts: a host name, or `host:port`. It is compared with a URL's `host`, which
 * leaves https's default port out, so an entry naming 443 would match nothing and is not one.
 */
export function isCallbackHost(text: string): boolean {
  const [host = "", port, ...rest] = text.split(":");
  if (rest.length > 0 || !HOSTNAME_PATTERN.test(host)) return false;
  return port === undefined || (/^[1-9][0-9]{0,4}$/.test(port) && Number(port) <= 65_535 && port !== "443");
}
