/**
 * Whether a text is one well-formed XML 1.0 document as the emulator writes them: an optional
 * declaration, then one element of nested elements, text and the five entities (or character
 * references); no attributes but xmlns-style ones in double quotes, no comments, no CDATA.
 * Strict where parsers differ: characters XML forbids anywhere are refused.
 */
export function isWellFormedXml(text: string): boolean {
  const TOKEN =
    /<([A-Za-z_][\w.-]*)((?:\s+[A-Za-z_:][\w.:-]*="[^"<&]*")*)\s*(\/?)>|<\/([A-Za-z_][\w.-]*)\s*>|&(?:amp|lt|gt|quot|apos|#[0-9]+|#x[0-9a-fA-F]+);|[^<&]+/y;
  const ILLEGAL = /[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/u;
  if (ILLEGAL.test(text)) return false;
  let rest = text.replace(/^<\?xml version="1\.0" encoding="UTF-8"\?>\s*/, '');
  if (rest.startsWith('<?')) return false;
  rest = rest.trimEnd();
  const stack: string[] = [];
  let roots = 0;
  TOKEN.lastIndex = 0;
  while (TOKEN.lastIndex < rest.length) {
    const at = TOKEN.lastIndex;
    const match = TOKEN.exec(rest);
    if (!match) return false;
    const [whole, open, , selfClosing, close] = match;
    if (open !== undefined) {
      if (stack.length === 0 && ++roots > 1) return false;
      if (selfClosing !== '/') stack.push(open);
    } else if (close !== undefined) {
      if (stack.pop() !== close) return false;
    } else if (stack.length === 0 && (whole.startsWith('&') || whole.trim() !== '' || at === 0)) {
      return false;
    }
  }
  return roots === 1 && stack.length === 0;
}
