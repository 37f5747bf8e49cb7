/**
 * AMCP as CasparCG Server 2.3/2.4 reads and writes it, for the AMCP peer:
 * its tokenizer, and the XML its INFO commands answer with (boost
 * property_tree: keys `a/b/c` as nested elements, digit-only segments renamed
 * `x_N`, repeated keys repeated, 3-space indentation, `\n` inside).
 */

/** CasparCG's AMCP tokenizer: spaces split, quotes group, backslash escapes, parentheses group. */
export function tokenize(message: string): string[] {
  const tokens: string[] = [];
  let current = '';
  let inQuote = false;
  let inParams = 0;
  let escape = false;
  for (const ch of message) {
    if (escape) {
      current += ch === 'n' ? '\n' : ch === '\\' || ch === '"' ? ch : '';
      escape = false;
      continue;
    }
    if (ch === '\\') {
      escape = true;
      continue;
    }
    if (ch === ' ' && !inQuote && inParams === 0) {
      if (current) tokens.push(current);
      current = '';
      continue;
    }
    if (!inQuote && ch === '(') inParams++;
    else if (!inQuote && ch === ')') {
      inParams--;
      if (inParams === 0) {
        tokens.push(current + ch);
        current = '';
        continue;
      }
    } else if (ch === '"') {
      inQuote = !inQuote;
      if (inParams === 0) {
        if (!inQuote) {
          tokens.push(current);
          current = '';
        }
        continue;
      }
    }
    current += ch;
  }
  if (current) tokens.push(current);
  return tokens;
}

/** property_tree writes a float with 9 significant digits: what INFO shows for positions. */
export const ptreeFloat = (v: number) => String(parseFloat(Math.fround(v).toPrecision(9)));

const escapeXml = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;');

interface XmlNode {
  name: string;
  value?: string;
  children: XmlNode[];
}

/** Keys `a/b/c` with their values → XML as CasparCG's INFO writes it (digit segments renamed x_N, 3-space indent). */
export function propertyTreeXml(root: string, state: [string, string[]][]): string {
  const top: XmlNode = { name: root, children: [] };
  for (const [key, values] of state) {
    const parts = key.split('/');
    // "avoid digit-only nodes in XML": stage.layer.10 → stage.layer.layer_10
    for (let i = 1; i < parts.length; i++) if (/^\d+$/.test(parts[i])) parts[i] = `${parts[i - 1]}_${parts[i]}`;
    let at = top;
    for (const part of parts.slice(0, -1)) {
      let next = at.children.find((c) => c.name === part && c.value === undefined);
      if (!next) at.children.push((next = { name: part, children: [] }));
      at = next;
    }
    for (const v of values) at.children.push({ name: parts[parts.length - 1], value: v, children: [] });
  }
  const write = (n: XmlNode, depth: number): string => {
    const pad = ' '.repeat(3 * depth);
    if (n.value !== undefined) return n.value === '' ? `${pad}<${n.name}/>\n` : `${pad}<${n.name}>${escapeXml(n.value)}</${n.name}>\n`;
    return `${pad}<${n.name}>\n${n.children.map((c) => write(c, depth + 1)).join('')}${pad}</${n.name}>\n`;
  };
  return `<?xml version="1.0" encoding="utf-8"?>\n${write(top, 0)}`;
}
