import type { Command } from 'commander';
import { ValidationError } from '../../errors.js';
import { action, clientCommand, openSession, parseJsonFlag, readJsonFile, type ClientOptions, type Session } from '../command.js';
import { out, printJson, printRecord, printTable } from '../output.js';

type Item = Record<string, unknown> & { uuid: string; name: string };

/** Projects, tables and transforms nest; a reference names each level, joined by dots (names cannot hold one). */
interface Kind {
  readonly noun: 'project' | 'table' | 'transform';
  readonly segment: string;
  readonly depth: number;
  readonly refHelp: string;
  readonly columns: readonly [string, (item: Item) => unknown][];
}

const created = (item: Item) => item.created;
const KINDS: readonly Kind[] = [
  {
    noun: 'project',
    segment: 'projects',
    depth: 1,
    refHelp: 'PROJECT',
    columns: [
      ['name', (i) => i.name],
      ['uuid', (i) => i.uuid],
      ['description', (i) => i.description],
      ['created', created],
    ],
  },
  {
    noun: 'table',
    segment: 'tables',
    depth: 2,
    refHelp: 'PROJECT.TABLE',
    columns: [
      ['name', (i) => i.name],
      ['uuid', (i) => i.uuid],
      ['primary key', (i) => i.primary_key],
      ['description', (i) => i.description],
      ['created', created],
    ],
  },
  {
    noun: 'transform',
    segment: 'transforms',
    depth: 3,
    refHelp: 'PROJECT.TABLE.TRANSFORM',
    columns: [
      ['name', (i) => i.name],
      ['uuid', (i) => i.uuid],
      ['type', (i) => i.type],
      ['default', (i) => (i.settings as { is_default?: boolean } | undefined)?.is_default === true],
      ['created', created],
    ],
  },
];

function splitRef(kind: Kind, ref: string, depth: number): string[] {
  const parts = ref.split('.');
  if (parts.length !== depth || parts.some((p) => p === '')) {
    const wanted = KINDS[depth - 1]!.refHelp;
    throw new ValidationError(`${JSON.stringify(ref)} is not a ${kind.noun} reference here: use ${wanted}, e.g. ${['website', 'events', 'mytransform'].slice(0, depth).join('.')}`);
  }
  return parts;
}

/** Walks names (or uuids) down from the org to the collection that holds the last part. */
async function collectionPath(session: Session, parents: readonly string[]): Promise<string> {
  let path = session.orgPath;
  for (const [level, part] of parents.entries()) {
    const kind = KINDS[level]!;
    const items = await session.client.request<Item[]>('GET', `${path}/${kind.segment}/`);
    const found = items.find((item) => item.name === part || item.uuid === part);
    if (!found) {
      const where = level === 0 ? 'this org' : `${parents.slice(0, level).join('.')}`;
      throw new ValidationError(`there is no ${kind.noun} "${part}" in ${where}: inlet ${kind.noun} list${level === 0 ? '' : ` ${parents.slice(0, level).join('.')}`} shows them`);
    }
    path = `${path}/${kind.segment}/${encodeURIComponent(found.uuid)}`;
  }
  return `${path}/${KINDS[parents.length]!.segment}/`;
}

async function itemPath(session: Session, kind: Kind, ref: string): Promise<string> {
  const parts = splitRef(kind, ref, kind.depth);
  const path = await collectionPath(session, parts.slice(0, -1));
  const name = parts.at(-1)!;
  const found = (await session.client.request<Item[]>('GET', path)).find((item) => item.name === name || item.uuid === name);
  if (!found) throw new ValidationError(`there is no ${kind.noun} "${ref}": inlet ${kind.noun} list${kind.depth > 1 ? ` ${parts.slice(0, -1).join('.')}` : ''} shows them`);
  return `${path}${encodeURIComponent(found.uuid)}`;
}

interface BodyOptions extends ClientOptions {
  file?: string;
  name?: string;
  description?: string;
  settings?: string;
  type?: string;
}

/** A body from --file, with any flag given overriding the file's field. */
async function bodyOf(options: BodyOptions): Promise<Record<string, unknown>> {
  const body = options.file !== undefined ? await readJsonFile(options.file) : {};
  if (options.name !== undefined) body.name = options.name;
  if (options.description !== undefined) body.description = options.description;
  if (options.settings !== undefined) body.settings = parseJsonFlag('--settings', options.settings);
  if (options.type !== undefined) body.type = options.type;
  return body;
}

function bodyFlags(command: Command, kind: Kind): Command {
  command.option('--file <path>', 'the JSON body ("-" for stdin); flags override its fields').option('--description <text>', 'description').option('--settings <json>', 'settings object, as JSON');
  if (kind.noun === 'transform') command.option('--type <type>', 'csv or json');
  return command;
}

function printItem(item: Item, options: ClientOptions): void {
  if (options.json) printJson(item);
  else printRecord(item);
}

function registerKind(program: Command, kind: Kind): void {
  const group = program.command(kind.noun).description(`create, list, show, update and delete ${kind.segment}`);
  const listExample = `inlet ${kind.noun} list${kind.depth > 1 ? ` ${['website', 'events'].slice(0, kind.depth - 1).join('.')}` : ''}`;
  group.addHelpText('after', `\nExample:\n  $ ${listExample}\n`);
  const parentHelp = kind.depth > 1 ? KINDS[kind.depth - 2]!.refHelp : '';
  const sample = ['website', 'events', 'mytransformname'].slice(0, kind.depth).join('.');
  const parentSample = sample.split('.').slice(0, -1).join('.');

  clientCommand(
    bodyFlags(
      group
        .command('create')
        .description(`create a ${kind.noun}${kind.depth > 1 ? ` in a ${KINDS[kind.depth - 2]!.noun}` : ''}`)
        .argument(`<${kind.depth > 1 ? `${parentHelp}[.NAME]` : 'NAME'}>`, `the new ${kind.noun} (its name may come from --file or --name instead)`)
        .option('--name <name>', 'the name, when the reference does not end with it'),
      kind,
    ),
    kind.noun === 'transform' ? `inlet transform create ${parentSample} --file transform.json` : `inlet ${kind.noun} create ${sample} --description "web logs"`,
  ).action(
    action(async (ref: string, options: BodyOptions) => {
      const session = await openSession(options);
      const parts = ref.split('.');
      const named = parts.length === kind.depth;
      const parents = splitRef(kind, ref, named ? kind.depth : kind.depth - 1).slice(0, kind.depth - 1);
      const body = await bodyOf(options);
      if (named) body.name ??= parts.at(-1);
      if (typeof body.name !== 'string') throw new ValidationError(`the new ${kind.noun} has no name: end the reference with it (${sample}), or give --name or a "name" in --file`);
      const answer = await session.client.request<Item>('POST', await collectionPath(session, parents), { json: body });
      if (options.json) printJson(answer);
      else out(answer.uuid);
    }),
  );

  const list = group.command('list').description(`list the ${kind.segment}${kind.depth > 1 ? ` of a ${KINDS[kind.depth - 2]!.noun}` : ' of your org'}`);
  if (kind.depth > 1) list.argument(`<${parentHelp}>`, `the ${KINDS[kind.depth - 2]!.noun}, by name or uuid`);
  clientCommand(list, `inlet ${kind.noun} list${parentSample ? ` ${parentSample}` : ''}`).action(
    action(async (...args: unknown[]) => {
      const ref = kind.depth > 1 ? (args[0] as string) : undefined;
      const options = args[kind.depth > 1 ? 1 : 0] as ClientOptions;
      const session = await openSession(options);
      const parents = ref !== undefined ? splitRef(KINDS[kind.depth - 2]!, ref, kind.depth - 1) : [];
      const items = await session.client.request<Item[]>('GET', await collectionPath(session, parents));
      if (options.json) printJson(items);
      else
        printTable(
          kind.columns.map(([head]) => head),
          items.map((item) => kind.columns.map(([, value]) => value(item))),
        );
    }),
  );

  clientCommand(group.command('show').description(`show one ${kind.noun}`).argument(`<${kind.refHelp}>`, `the ${kind.noun}, by name or uuid`), `inlet ${kind.noun} show ${sample}`).action(
    action(async (ref: string, options: ClientOptions) => {
      const session = await openSession(options);
      printItem(await session.client.request<Item>('GET', await itemPath(session, kind, ref)), options);
    }),
  );

  clientCommand(
    bodyFlags(
      group
        .command('update')
        .description(`change a ${kind.noun}: only the fields given (PATCH), or all of them with --replace (PUT)`)
        .argument(`<${kind.refHelp}>`, `the ${kind.noun}, by name or uuid`)
        .option('--name <name>', 'a new name')
        .option('--replace', 'replace the whole resource with the body (fields not given are reset)'),
      kind,
    ),
    kind.noun === 'transform' ? `inlet transform update ${sample} --file transform.json` : `inlet ${kind.noun} update ${sample} --description "new description"`,
  ).action(
    action(async (ref: string, options: BodyOptions & { replace?: boolean }) => {
      const body = await bodyOf(options);
      if (Object.keys(body).length === 0) throw new ValidationError('nothing to change: give --file, --name, --description or --settings');
      const session = await openSession(options);
      printItem(await session.client.request<Item>(options.replace ? 'PUT' : 'PATCH', await itemPath(session, kind, ref), { json: body }), options);
    }),
  );

  clientCommand(
    group
      .command('delete')
      .description(`delete a ${kind.noun}${kind.noun === 'table' ? ' and its data' : ''}`)
      .argument(`<${kind.refHelp}>`, `the ${kind.noun}, by name or uuid`),
    `inlet ${kind.noun} delete ${sample}`,
    { json: false },
  ).action(
    action(async (ref: string, options: ClientOptions) => {
      const session = await openSession(options);
      await session.client.request('DELETE', await itemPath(session, kind, ref));
      out(`deleted ${kind.noun} ${ref}`);
    }),
  );
}

export function registerResources(program: Command): void {
  for (const kind of KINDS) registerKind(program, kind);
}
