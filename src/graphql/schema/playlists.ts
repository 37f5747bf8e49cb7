// Filled in by the playlists module.
