from ge4rec.cli import main

main()
