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

export function writeXml(name: string, value: XmlValue): string {
  if (value === undefined || value === null) return '';
  if (Array.isArray(value))
    return `<${name}>${value.map((item) => writeXml('item', item)).join('')}</${name}>`;
  if (typeof value === 'object') {
    let inner = '';
    for (const key in value) inner += writeXml(key, value[key]);
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
