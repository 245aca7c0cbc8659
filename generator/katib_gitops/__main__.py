from katib_gitops.cli import run

run()
