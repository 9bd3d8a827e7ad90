"""The bottom layer: what a record and a saved run are, and where results live (imports nothing else of
nptbench). The record schema (:mod:`.record`), the run model and its reader (:mod:`.runs`), the results/
folder layout (:mod:`.layout`), the stores that keep runs, a folder or PostgreSQL (:mod:`.store`), and the
stored ceilings file (:mod:`.ceilings`)."""
