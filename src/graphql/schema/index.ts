import { builder } from '../builder.ts';
// Each domain file registers its types and fields on the builder.
import './scalars.ts';
import './roots.ts';
import './users.ts';
import './projects.ts';
import './nodes.ts';
import './assets.ts';
import './channels.ts';
import './alarms.ts';
import './playlists.ts';
import './items.ts';
import './as-run.ts';
import './engine.ts';
import './transport.ts';
import './schedules.ts';
import './schedule-import.ts';
import './subscriptions.ts';

export const schema = builder.toSchema({ sortSchema: false });
