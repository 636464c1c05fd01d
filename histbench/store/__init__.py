"""Results on disk and what they hold: result files, sample summaries, machine records and
asv histories brought in; nothing here knows how results were measured."""
