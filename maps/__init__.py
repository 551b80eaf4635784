"""Folium map builders (officer layers, command-center heatmaps, building mini-maps) and the
offline asset bundle they use; they take plain data or a session and return HTML."""
