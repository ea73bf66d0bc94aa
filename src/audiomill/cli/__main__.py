from audiomill.cli import main

main()
