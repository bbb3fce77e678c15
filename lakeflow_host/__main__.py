from lakeflow_host.cli import main

main()
