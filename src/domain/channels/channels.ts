import { randomUUID } from 'node:crypto';
import type { Principal } from '../../auth/principal.ts';
import { ChannelStatus, type OutputType } from '../../../prisma/generated/client/enums.ts';
import { badInput, conflict, forbidden, notFound } from '../../errors.ts';
import type { DomainContext } from '../shared/context.ts';
import type { Prisma } from '../../services/db.ts';
import { assertAccess, canSee, requirePrincipal, visibleProjectIds, type Need } from '../access/access.ts';
import { parseId } from '../shared/ids.ts';
import { findVisibleNode } from '../cluster/nodes.ts';
import { checkDeviceOnNode, checkOutputDestination, planOutput, type OutputInput, type OutputPlan } from './outputs.ts';
import { writeChannelSecret } from './secrets.ts';
import { startChannelSidecar, stopChannelSidecar } from './channel-lifecycle.ts';
import { publishChannelEvent } from './channel-events.ts';
import { pushScheduleOnStart } from '../schedules/schedule-push.ts';
import { isForeignKeyViolation } from '../shared/validation.ts';
import { DEFAULT_VIDEO_FORMAT } from '../../protocol/video-formats.ts';

type ChannelQuery = { include?: Prisma.ChannelInclude; select?: Prisma.ChannelSelect };

/** A channel's configuration may change, and it may be deleted, only while no engine runs it. */
export const EDITABLE_STATUSES: ChannelStatus[] = [ChannelStatus.STOPPED, ChannelStatus.ERROR];

export interface CreateChannelArgs {
  name: string;
  projectId?: string | null;
  nodeId?: string | null;
  output: OutputInput;
  videoFormat?: string | null;
}

export interface UpdateChannelArgs {
  name?: string | null;
  projectId?: string | null;
  nodeId?: string | null;
  output?: OutputInput | null;
  videoFormat?: string | null;
}

/** Live (not deleted) channels the caller may see. */
export function visibleChannelsWhere(p: Principal): Prisma.ChannelWhereInput {
  const ids = visibleProjectIds(p);
  return ids ? { deletedAt: null, projectId: { in: ids } } : { deletedAt: null };
}

export function listChannels(ctx: DomainContext, query: ChannelQuery) {
  const p = requirePrincipal(ctx.principal);
  return ctx.db.channel.findMany({
    ...query,
    where: visibleChannelsWhere(p),
    orderBy: [{ createdAt: 'asc' }, { id: 'asc' }],
  });
}

/** Null alike for a missing, deleted or invisible channel: a lookup reveals nothing. */
export function findChannel(ctx: DomainContext, rawId: string, query: ChannelQuery) {
  const p = requirePrincipal(ctx.principal);
  const id = parseId('id', rawId);
  return ctx.db.channel.findFirst({ ...query, where: { id, ...visibleChannelsWhere(p) } });
}

/**
 * A live channel named by an argument, for acting on it (or on what it owns):
 * NOT_FOUND when missing, deleted or invisible; FORBIDDEN when the role is too low.
 */
export async function requireChannel(ctx: DomainContext, field: string, rawId: string, need: Need) {
  const p = requirePrincipal(ctx.principal);
  const id = parseId(field, rawId);
  const channel = await ctx.db.channel.findFirst({ where: { id, deletedAt: null }, include: { node: true } });
  if (!channel || !canSee(p, channel.projectId)) throw notFound('channel');
  assertAccess(p, channel.projectId, need, 'channel');
  return channel;
}

/** A target project: EDITOR there (NOT_FOUND when invisible); no project is admin-only. */
async function checkTargetProject(ctx: DomainContext, p: Principal, rawId: string | null): Promise<string | null> {
  if (rawId === null) {
    if (!p.isAdmin) throw forbidden('a channel without a project needs an administrator');
    return null;
  }
  const id = parseId('input.projectId', rawId);
  assertAccess(p, id, 'EDITOR', 'project');
  // Members' roles come from existing memberships; an admin may name any id.
  if (p.isAdmin && !(await ctx.db.project.findUnique({ where: { id }, select: { id: true } })))
    throw notFound('project');
  return id;
}

function secretKey(ctx: DomainContext): Buffer {
  return ctx.services.config.secretKey;
}

export async function createChannel(ctx: DomainContext, input: CreateChannelArgs, query: ChannelQuery) {
  const p = requirePrincipal(ctx.principal);
  const projectId = await checkTargetProject(ctx, p, input.projectId ?? null);
  const node = input.nodeId ? await findVisibleNode(ctx, 'input.nodeId', input.nodeId) : null;
  const plan = planOutput('input.output', input.output);
  checkOutputDestination('input.output', input.output, ctx.services.config.outputs);
  if (plan.decklinkDevice !== null) checkDeviceOnNode('input.output.decklink.deviceIndex', plan.decklinkDevice, node);

  // The id is chosen here so the secret can be bound to it before the row exists.
  const id = randomUUID();
  const secret = plan.secret.kind === 'set' ? plan.secret.secret : null;
  try {
    const channel = await ctx.db.$transaction(async (tx) => {
      await tx.channel.create({
        data: {
          id,
          name: input.name,
          projectId,
          nodeId: node?.id ?? null,
          outputType: plan.outputType,
          output: plan.output,
          decklinkDevice: plan.decklinkDevice,
          videoFormat: input.videoFormat ?? DEFAULT_VIDEO_FORMAT,
        },
      });
      if (secret) await writeChannelSecret(tx, secretKey(ctx), id, secret);
      return tx.channel.findUniqueOrThrow({ ...query, where: { id } });
    });
    publishChannelEvent(ctx.services, { kind: 'CREATED', channelId: id, projectId });
    return channel;
  } catch (err) {
    // The node (or project) went away between the check and the insert.
    if (isForeignKeyViolation(err)) throw notFound(node ? 'node' : 'project');
    throw err;
  }
}

/** After a conditional write matched nothing: gone (NOT_FOUND) or in a state that forbids it (CONFLICT). */
async function whyNotWritten(tx: Prisma.TransactionClient, id: string, action: string): Promise<never> {
  const now = await tx.channel.findFirst({ where: { id, deletedAt: null }, select: { status: true } });
  if (!now) throw notFound('channel');
  if (!EDITABLE_STATUSES.includes(now.status)) {
    throw conflict(`the channel is ${now.status}: stop it before you ${action} it`, { status: now.status });
  }
  throw conflict(`the channel changed while you ${action === 'delete' ? 'deleted' : 'updated'} it: try again`);
}

export async function updateChannel(ctx: DomainContext, rawId: string, input: UpdateChannelArgs, query: ChannelQuery) {
  const p = requirePrincipal(ctx.principal);
  const current = await requireChannel(ctx, 'id', rawId, 'EDITOR');
  // Explicit nulls were refused by the input type (rejectNull).
  const name = input.name ?? undefined;
  const videoFormat = input.videoFormat ?? undefined;
  const output = input.output ?? undefined;

  const projectId =
    input.projectId === undefined ? current.projectId : await checkTargetProject(ctx, p, input.projectId);
  const nodeChanges = input.nodeId !== undefined;
  let node = current.node;
  if (typeof input.nodeId === 'string') node = await findVisibleNode(ctx, 'input.nodeId', input.nodeId);
  else if (input.nodeId === null) node = null;

  const plan: OutputPlan | null = output ? planOutput('input.output', output, current) : null;
  if (output) checkOutputDestination('input.output', output, ctx.services.config.outputs);
  if (plan?.decklinkDevice != null) {
    checkDeviceOnNode('input.output.decklink.deviceIndex', plan.decklinkDevice, node);
  } else if (!plan && nodeChanges && current.decklinkDevice !== null) {
    // The kept DeckLink output must exist on the new node too.
    checkDeviceOnNode('input.nodeId', current.decklinkDevice, node);
  }

  const data: Prisma.ChannelUncheckedUpdateManyInput = {
    ...(name !== undefined && { name }),
    ...(videoFormat !== undefined && { videoFormat }),
    ...(input.projectId !== undefined && { projectId }),
    ...(nodeChanges && { nodeId: node?.id ?? null }),
    ...(plan && { outputType: plan.outputType, output: plan.output, decklinkDevice: plan.decklinkDevice }),
  };
  try {
    const channel = await ctx.db.$transaction(async (tx) => {
      // One conditional write: the status, and what the checks above relied on, must not have moved.
      const { count } = await tx.channel.updateMany({
        where: {
          id: current.id,
          deletedAt: null,
          status: { in: EDITABLE_STATUSES },
          projectId: current.projectId,
          nodeId: current.nodeId,
          outputType: current.outputType as OutputType,
          // The secret plan compared against this output: another update in between must not slip under it.
          ...(plan && { output: { equals: current.output as Prisma.InputJsonValue } }),
        },
        data,
      });
      if (count === 0) await whyNotWritten(tx, current.id, 'update');
      if (projectId !== current.projectId && projectId !== null) await assertAssetsBelong(tx, current.id, projectId);
      if (plan?.secret.kind === 'set') await writeChannelSecret(tx, secretKey(ctx), current.id, plan.secret.secret);
      return tx.channel.findUniqueOrThrow({ ...query, where: { id: current.id } });
    });
    const moved = projectId !== current.projectId;
    publishChannelEvent(ctx.services, {
      kind: 'UPDATED',
      channelId: current.id,
      projectId,
      ...(moved && { formerProjectId: current.projectId, message: 'moved to another project' }),
    });
    return channel;
  } catch (err) {
    if (isForeignKeyViolation(err)) throw notFound(nodeChanges ? 'node' : 'project');
    throw err;
  }
}

/**
 * A channel moved to another project must not bring that project's viewers
 * assets of its old one through its items. Runs after the channel row is
 * locked by the update; item edits share-lock it, so none slips in between.
 */
async function assertAssetsBelong(tx: Prisma.TransactionClient, channelId: string, projectId: string) {
  const foreign = await tx.item.findFirst({
    where: { playlist: { channelId }, asset: { OR: [{ projectId: null }, { projectId: { not: projectId } }] } },
    select: { id: true },
  });
  if (foreign) {
    throw badInput(
      'input.projectId',
      "the channel's playlists use assets of another project: remove those items first",
    );
  }
}

/**
 * Leaves a tombstone (see the Channel model): its playlists, items and secret
 * go, its node is freed, and its as-run history keeps pointing at it.
 */
export async function deleteChannel(ctx: DomainContext, rawId: string): Promise<string> {
  const current = await requireChannel(ctx, 'id', rawId, 'EDITOR');
  const id = current.id;
  await ctx.db.$transaction(async (tx) => {
    const { count } = await tx.channel.updateMany({
      where: { id, deletedAt: null, status: { in: EDITABLE_STATUSES }, projectId: current.projectId },
      data: { deletedAt: new Date(), nodeId: null },
    });
    if (count === 0) await whyNotWritten(tx, id, 'delete');
    // The schedule first (its events and filler with it): its blocks hold the playlists.
    await tx.schedule.deleteMany({ where: { channelId: id } });
    await tx.playlist.deleteMany({ where: { channelId: id } });
    await tx.channelSecret.deleteMany({ where: { channelId: id } });
  });
  publishChannelEvent(ctx.services, { kind: 'DELETED', channelId: id, projectId: current.projectId });
  return id;
}

/** startChannel: OPERATOR and up; CONFLICT unless STOPPED or ERROR, or when its DeckLink device is busy. */
export async function startChannel(ctx: DomainContext, rawId: string, query: ChannelQuery) {
  const channel = await requireChannel(ctx, 'id', rawId, 'OPERATOR');
  await startChannelSidecar(ctx.services, channel.id);
  // A channel with a schedule joins it where the wall clock is, once its sidecar answers.
  await pushScheduleOnStart(ctx.services, channel.id);
  return ctx.db.channel.findUniqueOrThrow({ ...query, where: { id: channel.id } });
}

/** stopChannel: OPERATOR and up; stopping a stopped channel changes nothing. */
export async function stopChannel(ctx: DomainContext, rawId: string, query: ChannelQuery) {
  const channel = await requireChannel(ctx, 'id', rawId, 'OPERATOR');
  await stopChannelSidecar(ctx.services, channel.id);
  return ctx.db.channel.findUniqueOrThrow({ ...query, where: { id: channel.id } });
}
