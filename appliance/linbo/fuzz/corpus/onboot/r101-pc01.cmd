format,initcache:torrent,sync:1,start:1
