from pyg_denoise.cli import main

main()
