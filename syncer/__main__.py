from syncer.cli.main import cli

cli()
