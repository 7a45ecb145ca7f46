// filled in by the filter parser work
