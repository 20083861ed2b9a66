/**
 * Writes a response in EC2's XML: members in wire names, arrays as `<item>` children, nothing
 * for undefined. Hand-written: it is twenty lines, one direction only, and on the hot path of
 * every request, where a general XML library's option handling costs more than it gives.
 */
const ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&apos;',
};
/**
 * Escapes markup, and replaces what XML 1.0 cannot carry at all (control characters, lone
 * surrogates, U+FFFE/FFFF; not even as character references) with U+FFFD, so that a value a
 * client sent never makes a response unreadable.
 */
const UNSAFE = /[&<>"']|[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/gu;
export const escapeXml = (text: string) => text.replace(UNSAFE, (c) => ESCAPES[c] ?? '\uFFFD');

export type XmlValue =
  | string
  | number
  | boolean
  | undefined
  | null
  | XmlValue[]
  | { [key: string]: XmlValue };

/** An element; array entries are `<item>` children as EC2 writes them, or `<member>` as the Query services do. */
export function writeXml(name: string, value: XmlValue, entry: 'item' | 'member' = 'item'): string {
  if (value === undefined || value === null) return '';
  if (Array.isArray(value))
    return `<${name}>${value.map((item) => writeXml(entry, item, entry)).join('')}</${name}>`;
  if (typeof value === 'object') {
    let inner = '';
    for (const key in value) inner += writeXml(key, value[key], entry);
    return `<${name}>${inner}</${name}>`;
  }
  return `<${name}>${escapeXml(String(value))}</${name}>`;
}

const EC2_NS = 'http://ec2.amazonaws.com/doc/2016-11-15/';

export function ec2Response(action: string, requestId: string, body: Record<string, XmlValue>): string {
  let inner = `<requestId>${requestId}</requestId>`;
  for (const key in body) inner += writeXml(key, body[key]);
  return `<?xml version="1.0" encoding="UTF-8"?>\n<${action}Response xmlns="${EC2_NS}">${inner}</${action}Response>`;
}

export function ec2Error(code: string, message: string, requestId: string): string {
  return `<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error><Code>${escapeXml(code)}</Code><Message>${escapeXml(message)}</Message></Error></Errors><RequestID>${requestId}</RequestID></Response>`;
}

/**
 * An answer of the other Query services (STS, IAM), as botocore's and the SDK's awsQuery readers
 * expect it: `<XResponse xmlns><XResult>...</XResult><ResponseMetadata><RequestId/>...`, lists
 * as `<member>` entries. An action without output (DeleteRole) has no Result element.
 */
export function queryResponse(
  namespace: string,
  action: string,
  requestId: string,
  result: Record<string, XmlValue> | undefined,
): string {
  let inner = '';
  if (result !== undefined) {
    for (const key in result) inner += writeXml(key, result[key], 'member');
    inner = `<${action}Result>${inner}</${action}Result>`;
  }
  return `<?xml version="1.0" encoding="UTF-8"?>\n<${action}Response xmlns="${namespace}">${inner}<ResponseMetadata><RequestId>${requestId}</RequestId></ResponseMetadata></${action}Response>`;
}

/** An error of the other Query services: `Sender` for the caller's faults (4xx), `Receiver` for the service's. */
export function queryError(
  namespace: string,
  status: number,
  code: string,
  message: string,
  requestId: string,
): string {
  const type = status >= 500 ? 'Receiver' : 'Sender';
  return `<?xml version="1.0" encoding="UTF-8"?>\n<ErrorResponse xmlns="${namespace}"><Error><Type>${type}</Type><Code>${escapeXml(code)}</Code><Message>${escapeXml(message)}</Message></Error><RequestId>${requestId}</RequestId></ErrorResponse>`;
}
