import { builder } from '../builder.ts';

// Placeholder until the playlists module lands.
builder.prismaObject('Playlist', { fields: (t) => ({ id: t.exposeID('id') }) });
