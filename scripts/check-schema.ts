// Two checks CI runs (npm run check:schema):
// 1. schema/schema.graphql is what codegen.ts prints from the code now;
// 2. the printed schema keeps every name, type, nullability, argument, default,
//    enum value and union member of ../shared/contract/schema.graphql, except the
//    entries of schema/contract-pending.txt (which must all still be missing).
import { generate } from '@graphql-codegen/cli';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { Kind, parse, print, type DefinitionNode, type DocumentNode } from 'graphql';
import codegenConfig from '../codegen.ts';

const root = path.resolve(import.meta.dirname, '..');
// The team's contract lives beside the repository; schema/contract.graphql is
// its copy for clones that stand alone, and must not drift from it.
const SHARED_CONTRACT = path.resolve(root, '../shared/contract/schema.graphql');
const CONTRACT_COPY = path.join(root, 'schema/contract.graphql');
const PRINTED = path.join(root, 'schema/schema.graphql');
const PENDING = path.join(root, 'schema/contract-pending.txt');

type Named = Extract<DefinitionNode, { name: { value: string } }>;
type FieldLike = {
  name: { value: string };
  type: Parameters<typeof print>[0];
  defaultValue?: Parameters<typeof print>[0];
  arguments?: readonly FieldLike[];
};

function definitions(doc: DocumentNode): Map<string, Named> {
  const out = new Map<string, Named>();
  for (const def of doc.definitions) if ('name' in def && def.name) out.set(def.name.value, def as Named);
  return out;
}

const fieldsOf = (def: Named): readonly FieldLike[] =>
  'fields' in def && def.fields ? (def.fields as readonly FieldLike[]) : [];
const isOptional = (f: FieldLike) => f.type.kind !== Kind.NON_NULL_TYPE || f.defaultValue !== undefined;
const printed = (node: Parameters<typeof print>[0] | undefined) => (node ? print(node) : undefined);

export function compareWithContract(contract: DocumentNode, actual: DocumentNode, pending: Set<string>): string[] {
  const problems: string[] = [];
  const ours = definitions(actual);
  for (const [name, want] of definitions(contract)) {
    if (pending.has(name)) continue;
    const have = ours.get(name);
    if (!have) {
      problems.push(`${name}: missing`);
      continue;
    }
    if (have.kind !== want.kind) {
      problems.push(`${name}: is ${have.kind}, the contract says ${want.kind}`);
      continue;
    }
    const haveFields = new Map(fieldsOf(have).map((f) => [f.name.value, f]));
    for (const wf of fieldsOf(want)) {
      const key = `${name}.${wf.name.value}`;
      if (pending.has(key)) continue;
      const hf = haveFields.get(wf.name.value);
      if (!hf) {
        problems.push(`${key}: missing`);
        continue;
      }
      if (print(hf.type) !== print(wf.type))
        problems.push(`${key}: type ${print(hf.type)}, the contract says ${print(wf.type)}`);
      if (printed(hf.defaultValue) !== printed(wf.defaultValue)) {
        problems.push(`${key}: default ${printed(hf.defaultValue)}, the contract says ${printed(wf.defaultValue)}`);
      }
      const haveArgs = new Map((hf.arguments ?? []).map((a) => [a.name.value, a]));
      for (const wa of wf.arguments ?? []) {
        const ha = haveArgs.get(wa.name.value);
        const akey = `${key}(${wa.name.value})`;
        if (!ha) problems.push(`${akey}: missing`);
        else {
          if (print(ha.type) !== print(wa.type))
            problems.push(`${akey}: type ${print(ha.type)}, the contract says ${print(wa.type)}`);
          if (printed(ha.defaultValue) !== printed(wa.defaultValue)) {
            problems.push(
              `${akey}: default ${printed(ha.defaultValue)}, the contract says ${printed(wa.defaultValue)}`,
            );
          }
        }
      }
      const wantArgs = new Set((wf.arguments ?? []).map((a) => a.name.value));
      for (const ha of hf.arguments ?? []) {
        if (!wantArgs.has(ha.name.value) && !isOptional(ha))
          problems.push(`${key}(${ha.name.value}): added as required`);
      }
    }
    if (want.kind === Kind.INPUT_OBJECT_TYPE_DEFINITION) {
      const wantFields = new Set(fieldsOf(want).map((f) => f.name.value));
      for (const hf of fieldsOf(have)) {
        if (!wantFields.has(hf.name.value) && !isOptional(hf))
          problems.push(`${name}.${hf.name.value}: added as required`);
      }
    }
    if (want.kind === Kind.ENUM_TYPE_DEFINITION && have.kind === Kind.ENUM_TYPE_DEFINITION) {
      const values = new Set(have.values?.map((v) => v.name.value));
      for (const v of want.values ?? [])
        if (!values.has(v.name.value)) problems.push(`${name}.${v.name.value}: enum value missing`);
    }
    if (want.kind === Kind.UNION_TYPE_DEFINITION && have.kind === Kind.UNION_TYPE_DEFINITION) {
      const members = new Set(have.types?.map((t) => t.name.value));
      for (const t of want.types ?? [])
        if (!members.has(t.name.value)) problems.push(`${name}: union member ${t.name.value} missing`);
    }
    const directives = (d: Named) => new Set(('directives' in d ? (d.directives ?? []) : []).map((x) => x.name.value));
    for (const d of directives(want)) if (!directives(have).has(d)) problems.push(`${name}: directive @${d} missing`);
  }
  return problems;
}

/** Pending entries that the schema already serves must leave the list. */
export function staleEntries(contract: DocumentNode, actual: DocumentNode, pending: Set<string>): string[] {
  const stale: string[] = [];
  for (const entry of pending) {
    const problems = compareWithContract(contract, actual, new Set([...pending].filter((e) => e !== entry)));
    if (
      !problems.some(
        (p) => p === entry || p.startsWith(`${entry}:`) || p.startsWith(`${entry}.`) || p.startsWith(`${entry}(`),
      )
    ) {
      stale.push(entry);
    }
  }
  return stale;
}

export function readPending(file: string): Set<string> {
  return new Set(
    readFileSync(file, 'utf8')
      .split('\n')
      .map((l) => l.replace(/#.*/, '').trim())
      .filter(Boolean),
  );
}

async function main() {
  const failures: string[] = [];
  const [output] = await generate(codegenConfig, false);
  const current = readFileSync(PRINTED, 'utf8');
  if (output.content.trim() !== current.trim()) {
    failures.push('schema/schema.graphql differs from the code: run `npm run codegen` and commit the result');
  }
  const copy = readFileSync(CONTRACT_COPY, 'utf8');
  if (existsSync(SHARED_CONTRACT) && readFileSync(SHARED_CONTRACT, 'utf8') !== copy) {
    failures.push('schema/contract.graphql differs from ../shared/contract/schema.graphql: copy the shared one');
  }
  const contract = parse(copy);
  const actual = parse(output.content);
  const pending = readPending(PENDING);
  for (const p of compareWithContract(contract, actual, pending)) failures.push(`contract: ${p}`);
  for (const s of staleEntries(contract, actual, pending))
    failures.push(`contract-pending.txt: ${s} is served now; remove it`);
  if (failures.length) {
    console.error(failures.join('\n'));
    process.exit(1);
  }
  console.log(`schema ok: matches the code and the contract (${pending.size} entries pending)`);
}

if (process.argv[1] && path.resolve(process.argv[1]) === path.resolve(import.meta.filename)) await main();
