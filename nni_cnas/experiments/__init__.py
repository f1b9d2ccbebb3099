"""Work over many searches or finished ones: K x seed sweeps (:mod:`.sweep`), the search-quality
protocol (:mod:`.quality`), run reports (:mod:`.report`) and figures (:mod:`.plots`), ranks of an
architecture under each epoch's policy (:mod:`.policy_ranks`), and the supernet's ranking of random
cells against NAS-Bench-201 (:mod:`.supernet_ranking`)."""
