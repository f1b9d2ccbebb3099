"""Work over many searches or finished ones: K x seed sweeps (:mod:`.sweep`), the search-quality
protocol (:mod:`.quality`), run reports (:mod:`.report`) and figures (:mod:`.plots`)."""
